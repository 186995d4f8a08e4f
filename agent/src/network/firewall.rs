//! Firewall ports in XCP-ng's `/etc/sysconfig/iptables`: its own chain `RH-Firewall-1-INPUT`
//! ends in a REJECT; the agent inserts its ACCEPT rules just before that REJECT, keeps every
//! other line (comments included) where it was, and never adds a rule that is already there.
//! Live (not under `--root`) the file is loaded with `iptables-restore`, as the iptables
//! service does, unless the running rules already hold every wanted rule.

use anyhow::{Result, bail};

pub const PATH: &str = "/etc/sysconfig/iptables";
pub const CHAIN: &str = "RH-Firewall-1-INPUT";

/// The TCP ports to open: the satellite, the controller where it may run, the DRBD range.
pub fn ports(tls: bool, controller: bool) -> Vec<String> {
    let mut ports = vec![if tls { "3367" } else { "3366" }.to_string()];
    if controller {
        ports.push(if tls { "3371" } else { "3370" }.to_string());
    }
    ports.push("7000:7999".to_string());
    ports
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
        let rules = wanted_rules(
            &["10.0.0.0/24".into(), "192.168.1.0/24".into()],
            &ports(false, true),
        );
        assert_eq!(rules.len(), 6);
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
        let more = wanted_rules(&["10.0.0.0/24".into()], &ports(true, false));
        let (third, added) = insert(&out, &more).unwrap();
        assert_eq!(added.len(), 1, "{added:?}");
        assert_eq!(third.matches("--dport 7000:7999").count(), 2);
        assert_eq!(third.matches("# linstor-agent").count(), 2);
    }

    #[test]
    fn a_file_without_the_chain_is_refused() {
        let err = insert(
            "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n",
            &wanted_rules(&[], &ports(false, false)),
        )
        .unwrap_err();
        assert!(err.to_string().contains(CHAIN), "{err}");
    }
}
