//! The LINSTOR and DRBD ports, as Vates' driver opens them (docs/xostor.md §2), and the rules
//! in XCP-ng's `/etc/sysconfig/iptables`: its own chain `RH-Firewall-1-INPUT` ends in a REJECT;
//! the agent inserts its ACCEPT rules just before that REJECT, keeps every other line (comments
//! included) where it was, and never adds a rule that is already there. `firewall_step` decides
//! between this file and xapi's `firewall-port` plugin.

use anyhow::{Result, bail};

pub const PATH: &str = "/etc/sysconfig/iptables";
pub const CHAIN: &str = "RH-Firewall-1-INPUT";

/// xapi's plugin that opens a port in its own `xapi-INPUT` chain and saves the rules.
pub const PLUGIN: &str = "/etc/xapi.d/plugins/firewall-port";

/// What the driver opens on every host (`LINSTOR_PORTS` of `linstor-manager`): the satellite
/// 3366, the controller's REST API 3370, 3376 and 3377, and the HTTP-NBD servers of the HA
/// statefile and redo log, 8076 and 8077.
pub const LINSTOR_PORTS: [&str; 6] = ["3366", "3370", "3376", "3377", "8076", "8077"];
/// The TLS ports of the satellite and the controller, opened too when the controller is
/// spoken to over HTTPS.
pub const TLS_PORTS: [&str; 2] = ["3367", "3371"];
/// DRBD's range, one rule at the top of `INPUT` (the driver does not use the plugin for it).
pub const DRBD_RANGE: &str = "7000:8000";

/// The single TCP ports to open (the DRBD range is apart).
pub fn linstor_ports(tls: bool) -> Vec<String> {
    let mut ports: Vec<String> = LINSTOR_PORTS.iter().map(|p| p.to_string()).collect();
    if tls {
        ports.extend(TLS_PORTS.iter().map(|p| p.to_string()));
    }
    ports
}

/// Every port and range, for the rules file.
pub fn ports(tls: bool) -> Vec<String> {
    let mut ports = linstor_ports(tls);
    ports.push(DRBD_RANGE.to_string());
    ports
}

/// Whether the running rules (`iptables-save` text) accept new TCP connections to `port` from
/// anywhere, in `INPUT` or a chain XCP-ng's `INPUT` jumps to.
pub fn open_to_all(save_output: &str, port: &str) -> bool {
    save_output.lines().map(normalise).any(|line| {
        let words: Vec<&str> = line.split(' ').collect();
        let chain_ok =
            words.len() > 1 && words[0] == "-A" && ["INPUT", "xapi-INPUT", CHAIN].contains(&words[1]);
        chain_ok
            && !words.contains(&"-s")
            && words.windows(2).any(|w| w == ["--dport", port])
            && words.windows(2).any(|w| w == ["-j", "ACCEPT"])
    })
}

/// The rules, as `iptables-save` prints them (so the running rules can be compared).
/// `sources` empty: from anywhere.
pub fn wanted_rules(sources: &[String], ports: &[String]) -> Vec<String> {
    let sources: Vec<Option<&String>> = if sources.is_empty() {
        vec![None]
    } else {
        sources.iter().map(Some).collect()
    };
    let mut rules = Vec::new();
    for source in sources {
        for port in ports {
            let from = source.map(|s| format!(" -s {s}")).unwrap_or_default();
            rules.push(format!(
                "-A {CHAIN}{from} -p tcp -m conntrack --ctstate NEW -m tcp --dport {port} -j ACCEPT"
            ));
        }
    }
    rules
}

fn normalise(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The file with the missing rules inserted before the chain's final REJECT, and the rules
/// that were missing (none: the text comes back unchanged).
pub fn insert(text: &str, rules: &[String]) -> Result<(String, Vec<String>)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut table = "";
    let mut declared = false;
    let mut existing = Vec::new();
    let mut last_rule = None;
    let mut reject = None;
    let mut commit = None;
    for (i, line) in lines.iter().enumerate() {
        let norm = normalise(line);
        if let Some(name) = norm.strip_prefix('*') {
            table = if name == "filter" { "filter" } else { "other" };
            continue;
        }
        if table != "filter" {
            continue;
        }
        if norm == "COMMIT" {
            commit.get_or_insert(i);
            table = "";
            continue;
        }
        if norm.starts_with(&format!(":{CHAIN} ")) {
            declared = true;
        }
        if norm.starts_with(&format!("-A {CHAIN} ")) {
            existing.push(norm.clone());
            last_rule = Some(i);
            let words: Vec<&str> = norm.split(' ').collect();
            if words.windows(2).any(|w| w == ["-j", "REJECT"]) {
                reject = Some(i);
            }
        }
    }
    if !declared {
        bail!(
            "{PATH} has no chain {CHAIN} in its *filter table (not XCP-ng's layout): open TCP {} yourself",
            "3366/3367, 3370/3371 and 7000-7999"
        );
    }
    let missing: Vec<String> = rules
        .iter()
        .filter(|r| !existing.contains(&normalise(r)))
        .cloned()
        .collect();
    if missing.is_empty() {
        return Ok((text.to_string(), missing));
    }
    // Before the REJECT that ends the chain; else after its last rule; else before COMMIT.
    let at = match (reject, last_rule, commit) {
        (Some(r), _, _) => r,
        (None, Some(l), _) => l + 1,
        (None, None, Some(c)) => c,
        (None, None, None) => bail!("{PATH}: the *filter table has no COMMIT line"),
    };
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let mut block = vec!["# linstor-agent: LINSTOR satellite/controller and DRBD replication".to_string()];
    if out.get(at.wrapping_sub(1)).is_some_and(|l| l == &block[0]) {
        block.clear();
    }
    block.extend(missing.iter().cloned());
    out.splice(at..at, block);
    let mut text_out = out.join("\n");
    text_out.push('\n');
    Ok((text_out, missing))
}

/// Whether every rule is in `iptables-save` output.
pub fn all_live(save_output: &str, rules: &[String]) -> bool {
    let live: Vec<String> = save_output.lines().map(normalise).collect();
    rules.iter().all(|r| live.contains(&normalise(r)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const XCPNG: &str = include_str!("../../tests/data/xcp-ng-8-sysconfig-iptables");

    #[test]
    fn rules_go_before_the_reject_and_everything_else_stays() {
        let rules = wanted_rules(&["10.0.0.0/24".into(), "192.168.1.0/24".into()], &ports(false));
        assert_eq!(rules.len(), 14);
        let (out, added) = insert(XCPNG, &rules).unwrap();
        assert_eq!(added, rules);
        let lines: Vec<&str> = out.lines().collect();
        let reject = lines.iter().position(|l| l.contains("-j REJECT")).unwrap();
        for (i, rule) in rules.iter().enumerate() {
            assert_eq!(lines[reject - rules.len() + i], rule);
        }
        // Every original line, in its order.
        let kept: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| !rules.iter().any(|r| r == l) && !l.starts_with("# linstor-agent"))
            .collect();
        assert_eq!(kept, XCPNG.lines().collect::<Vec<_>>());
        // A second run changes nothing.
        let (again, added) = insert(&out, &rules).unwrap();
        assert!(added.is_empty());
        assert_eq!(again, out);
        // A new rule later goes before the REJECT too, once.
        let more = wanted_rules(&["10.0.0.0/24".into()], &ports(true));
        let (third, added) = insert(&out, &more).unwrap();
        assert_eq!(added.len(), 2, "the TLS ports: {added:?}");
        assert_eq!(third.matches("--dport 7000:8000").count(), 2);
        assert_eq!(third.matches("# linstor-agent").count(), 2);
    }

    #[test]
    fn open_ports_are_read_from_the_running_rules() {
        let save = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 7000:8000 -j ACCEPT\n\
                    -A xapi-INPUT -p tcp -m conntrack --ctstate NEW -m tcp --dport 3366 -j ACCEPT\n\
                    -A RH-Firewall-1-INPUT -s 10.0.0.0/24 -p tcp -m tcp --dport 3370 -j ACCEPT\nCOMMIT\n";
        assert!(open_to_all(save, "3366"));
        assert!(open_to_all(save, DRBD_RANGE));
        assert!(!open_to_all(save, "3370"), "only from one network");
        assert!(!open_to_all(save, "3376"));
        assert_eq!(ports(false).len(), 7);
        assert!(ports(true).contains(&"3371".to_string()));
    }

    #[test]
    fn a_file_without_the_chain_is_refused() {
        let err = insert(
            "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n",
            &wanted_rules(&[], &ports(false)),
        )
        .unwrap_err();
        assert!(err.to_string().contains(CHAIN), "{err}");
    }
}
