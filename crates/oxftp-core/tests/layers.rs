//! The modules of oxftp-core form layers: a module may use (`crate::...`)
//! only modules of lower layers, so there is no import cycle and each layer
//! can be read without the ones above it. Reads the sources; comments (doc
//! links) do not count.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Bottom first. The parse-and-dispatch loop (`session`) sits above the
/// handlers (`cmd`), which sit above the connection state (`conn`), transfers
/// and data connections, which sit above sockets.
const LAYERS: &[&[&str]] = &[
    // Foundations: sockets, byte streams, zero-copy paths, TLS set-up, account rules.
    &["stream", "net", "zero_copy", "tls", "account", "keys"],
    // Who logs in.
    &["auth"],
    // Where files live; what happened to them.
    &["storage", "events"],
    // Metric families (labelled by storage error kinds).
    &["metrics"],
    // Test support (helpers, the conformance suite) that tests of the layers above use.
    &["test_util"],
    // Things built on storage or sockets alone.
    &["memory", "listing", "admission", "data"],
    // Storage policy layers and the stack builder.
    &["policy"],
    // Moving bytes; server options.
    &["transfer", "hashing", "options"],
    // What a server's sessions share.
    &["context"],
    // One connection's state.
    &["conn"],
    // Command handlers.
    &["cmd"],
    // Read, parse, dispatch.
    &["session"],
    // Listeners and accept loops.
    &["server"],
    // Old names.
    &["limits"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The source without `//` comments.
fn code_of(text: &str) -> String {
    text.lines().map(|line| line.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// Top-level modules named after `crate::` in `code` (`crate::a::b`,
/// `crate::{a, b::c}`).
fn crate_uses(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item.trim().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        } else {
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            // `crate::some_macro!` names a macro, not a module.
            let is_macro = rest[name.len()..].starts_with('!');
            if !name.is_empty() && !is_macro {
                found.insert(name);
            }
        }
    }
    found
}

fn collect(dir: &Path, src: &Path, uses: &mut BTreeMap<String, BTreeSet<String>>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            collect(&path, src, uses);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let relative = path.strip_prefix(src).expect("under src");
        let first = relative.components().next().expect("a component").as_os_str().to_string_lossy().to_string();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(&path).expect("read source"));
        let entry = uses.entry(module.clone()).or_default();
        entry.extend(crate_uses(&code).into_iter().filter(|used| *used != module));
    }
}

#[test]
fn core_modules_form_layers_without_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut uses = BTreeMap::new();
    collect(&src, &src, &mut uses);
    let mut wrong = Vec::new();
    for (module, used) in &uses {
        let Some(layer) = layer_of(module) else {
            wrong.push(format!("{module}: not in LAYERS (add it to the layer it belongs to)"));
            continue;
        };
        for dep in used {
            match layer_of(dep) {
                Some(l) if l < layer => {}
                Some(_) => wrong.push(format!("{module} (layer {layer}) uses {dep}, which is not below it")),
                None => wrong.push(format!("{module} uses {dep}, which is not in LAYERS")),
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
    // Every listed module exists.
    for module in LAYERS.iter().flat_map(|l| l.iter()) {
        assert!(uses.contains_key(*module), "{module} is in LAYERS but not in src/");
    }
}

#[test]
fn the_scanner_sees_grouped_and_plain_paths() {
    let code =
        code_of("use crate::a::B;\nuse crate::{c, d::E}; // crate::ignored\nlet x = crate::f::g();\ncrate::m!();");
    assert_eq!(crate_uses(&code).into_iter().collect::<Vec<_>>(), ["a", "c", "d", "f"]);
}
