//! The peer check in real network namespaces: hosts on a bridge, jumbo frames, one
//! host left at 1500, and a peer with no route. Every namespace is removed when the test ends.

mod support;

use linstor_agent::network::peers::{self, PeerState};
use support::netns::{Netns, Switch, veth};

#[test]
fn three_hosts_at_mtu_9000_are_ok_and_a_1500_link_and_a_missing_route_are_named() {
    let switch = Switch::new();
    let hosts: Vec<Netns> = ["h1", "h2", "h3", "h4"].iter().map(|t| Netns::new(t)).collect();
    for (i, host) in hosts.iter().enumerate() {
        // h4 is the host whose link was left at 1500.
        let mtu = if i == 3 { 1500 } else { 9000 };
        switch.attach(host, &format!("10.77.0.{}/24", i + 1), mtu);
    }

    // From h1: its two jumbo peers, the 1500 one, and an address with no route.
    let peer_list: Vec<String> = ["10.77.0.2", "10.77.0.3", "10.77.0.4", "10.88.0.1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let results = hosts[0].within(|| peers::check(&peer_list, 9000));
    let text = peers::render(&results);
    assert_eq!(results.len(), 4, "{text}");
    assert_eq!(results[0].status, "ok", "{text}");
    assert_eq!(results[1].status, "ok", "{text}");
    assert_eq!(results[2].peer, "10.77.0.4");
    assert_eq!(results[2].state, PeerState::MtuMismatch, "{text}");
    assert_eq!(results[2].status, "MTU mismatch (path carries 1500)", "{text}");
    assert_eq!(results[2].path_mtu, Some(1500));
    assert_eq!(results[3].status, "unreachable", "{text}");
    assert!(
        text.contains("10.77.0.4  MTU mismatch (path carries 1500)"),
        "{text}"
    );
    assert!(!peers::all_ok(&results));

    // The three jumbo hosts see each other "ok", every way round.
    for (i, host) in hosts.iter().take(3).enumerate() {
        let others: Vec<String> = (1..=3)
            .filter(|n| *n != i + 1)
            .map(|n| format!("10.77.0.{n}"))
            .collect();
        let results = host.within(|| peers::check(&others, 9000));
        assert!(peers::all_ok(&results), "{}", peers::render(&results));
    }
}

#[test]
fn a_path_narrower_than_1500_is_measured_and_json_names_it() {
    let a = Netns::new("a");
    let b = Netns::new("b");
    veth(&a, &b, "10.78.0.1/24", "10.78.0.2/24", 1400);
    let results = a.within(|| peers::check(&["10.78.0.2".to_string()], 9000));
    // a's own link is at 1400: ping refuses locally, and the search finds what the path carries.
    assert_eq!(
        results[0].status,
        "MTU mismatch (path carries 1400)",
        "{}",
        peers::render(&results)
    );
    let json = serde_json::to_value(&results).unwrap();
    assert_eq!(json[0]["state"], "mtu_mismatch");
    assert_eq!(json[0]["path_mtu"], 1400);
}

#[test]
fn namespaces_are_removed_after_use() {
    let name = {
        let ns = Netns::new("gone");
        ns.name.clone()
    };
    let list = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&list.stdout).contains(&name));
}
