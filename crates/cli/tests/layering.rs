//! The dependency direction between invokd's crates, enforced by parsing every manifest (style
//! habit 6, after Firecracker's `verify_dependencies.rs`).
//!
//! The design is `cli -> server -> engine -> {store, supervisor} -> model` with
//! `server -> wire -> model`: a crate may depend only on the crates below it, the domain crates
//! know nothing of HTTP, only `store` talks SQL and only the binary uses `anyhow`. The workspace
//! also has to keep its shared lints switched on in every crate. A crate this table does not know
//! fails the test until someone decides where it sits.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use toml::{Table, Value};

/// Workspace crates and the workspace crates each may depend on. `None`: anything.
const LAYERS: &[(&str, Option<&[&str]>)] = &[
    ("invokd-model", Some(&[])),
    ("invokd-wire", Some(&["invokd-model"])),
    ("invokd-store", Some(&["invokd-model"])),
    ("invokd-supervisor", Some(&["invokd-model"])),
    (
        "invokd-engine",
        Some(&["invokd-model", "invokd-store", "invokd-supervisor"]),
    ),
    (
        "invokd-server",
        Some(&["invokd-engine", "invokd-wire", "invokd-model"]),
    ),
    // Deliveries to SQS/SNS/EventBridge: an adapter the engine calls through a trait it owns,
    // wired up by the binary, beside `server` rather than above it.
    ("invokd-outbound", Some(&["invokd-engine", "invokd-model"])),
    (
        "invokd",
        Some(&[
            "invokd-server",
            "invokd-engine",
            "invokd-model",
            "invokd-outbound",
        ]),
    ),
    ("invokd-e2e", None),
];

/// Third-party crates a crate's `[dependencies]` must not name, and why.
struct Forbidden {
    dependency: &'static str,
    /// Crates it is forbidden in (`None`: every crate except `except`).
    in_crates: Option<&'static [&'static str]>,
    except: &'static [&'static str],
    why: &'static str,
}

const DOMAIN: &[&str] = &[
    "invokd-model",
    "invokd-wire",
    "invokd-store",
    "invokd-supervisor",
    "invokd-engine",
];

const FORBIDDEN: &[Forbidden] = &[
    Forbidden {
        dependency: "axum",
        in_crates: Some(DOMAIN),
        except: &[],
        why: "the domain knows nothing of HTTP",
    },
    Forbidden {
        dependency: "hyper",
        in_crates: Some(DOMAIN),
        except: &[],
        why: "the domain knows nothing of HTTP",
    },
    Forbidden {
        dependency: "http",
        in_crates: Some(DOMAIN),
        except: &[],
        why: "the domain knows nothing of HTTP",
    },
    Forbidden {
        dependency: "sqlx",
        in_crates: None,
        except: &["invokd-store"],
        why: "only the store talks SQL",
    },
    Forbidden {
        dependency: "anyhow",
        in_crates: None,
        except: &["invokd"],
        why: "libraries return their own error enum; anyhow belongs to the binary",
    },
    Forbidden {
        dependency: "tokio",
        in_crates: Some(&["invokd-model", "invokd-wire"]),
        except: &[],
        why: "model and wire are plain data and pure functions, no runtime",
    },
];

/// One parsed manifest.
struct Manifest {
    path: PathBuf,
    package: String,
    doc: Table,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

fn parse(path: &Path) -> Table {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.parse::<Table>()
        .unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// Every crate's manifest: `crates/*/Cargo.toml` and `tests/e2e/Cargo.toml`.
fn manifests(root: &Path) -> Vec<Manifest> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .expect("crates directory")
        .map(|e| e.expect("directory entry").path().join("Cargo.toml"))
        .filter(|p| p.is_file())
        .collect();
    paths.push(root.join("tests/e2e/Cargo.toml"));
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let doc = parse(&path);
            let package = doc
                .get("package")
                .and_then(|p| p.get("name"))
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("{} has no package name", path.display()))
                .to_owned();
            Manifest { path, package, doc }
        })
        .collect()
}

/// The package a dependency entry names (following `package = ...` renames, also those made
/// in `[workspace.dependencies]`).
fn package_of(key: &str, spec: &Value, workspace_deps: &Table) -> String {
    if let Some(p) = spec.get("package").and_then(Value::as_str) {
        return p.to_owned();
    }
    let inherited = spec.get("workspace").and_then(Value::as_bool) == Some(true);
    let renamed = workspace_deps
        .get(key)
        .and_then(|d| d.get("package"))
        .and_then(Value::as_str);
    match renamed {
        Some(p) if inherited => p.to_owned(),
        _ => key.to_owned(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Normal,
    Build,
    Dev,
}

impl Kind {
    fn section(self) -> &'static str {
        match self {
            Kind::Normal => "dependencies",
            Kind::Build => "build-dependencies",
            Kind::Dev => "dev-dependencies",
        }
    }
}

/// Every dependency of a manifest, with where it was declared: the three sections, plain and
/// under `[target.'cfg(..)'.*]`.
fn dependencies(doc: &Table, workspace_deps: &Table) -> Vec<(Kind, String)> {
    let mut tables: Vec<&Table> = vec![doc];
    if let Some(targets) = doc.get("target").and_then(Value::as_table) {
        tables.extend(targets.values().filter_map(Value::as_table));
    }
    let mut out = Vec::new();
    for t in tables {
        for kind in [Kind::Normal, Kind::Build, Kind::Dev] {
            let Some(deps) = t.get(kind.section()).and_then(Value::as_table) else {
                continue;
            };
            for (key, spec) in deps {
                out.push((kind, package_of(key, spec, workspace_deps)));
            }
        }
    }
    out
}

/// Every way `package`'s manifest breaks the layering; empty when it is fine.
fn violations(package: &str, doc: &Table, workspace: &Table) -> Vec<String> {
    let workspace_deps = workspace
        .get("workspace")
        .and_then(|w| w.get("dependencies"))
        .and_then(Value::as_table)
        .cloned()
        .unwrap_or_default();
    let internal: BTreeSet<&str> = LAYERS.iter().map(|(name, _)| *name).collect();
    let Some((_, allowed)) = LAYERS.iter().find(|(name, _)| *name == package) else {
        return vec![format!(
            "{package} is not in the layering table of crates/cli/tests/layering.rs: \
             decide which crates it may use and add it"
        )];
    };
    let mut out = Vec::new();
    for (kind, dep) in dependencies(doc, &workspace_deps) {
        if internal.contains(dep.as_str()) || dep.starts_with("invokd") {
            let ok = match allowed {
                None => true,
                Some(allowed) => allowed.contains(&dep.as_str()),
            };
            if !ok {
                out.push(format!(
                    "{package} must not depend on {dep} ([{}]): allowed are {:?}",
                    kind.section(),
                    allowed.unwrap_or(&[])
                ));
            }
            continue;
        }
        if kind == Kind::Dev {
            continue;
        }
        for f in FORBIDDEN {
            let applies =
                f.in_crates.is_none_or(|c| c.contains(&package)) && !f.except.contains(&package);
            if applies && dep == f.dependency {
                out.push(format!(
                    "{package} must not depend on {dep} ([{}]): {}",
                    kind.section(),
                    f.why
                ));
            }
        }
    }
    out
}

/// A lint's level, whether written `x = "deny"` or `x = { level = "deny", priority = n }`.
fn level(v: &Value) -> Option<&str> {
    v.as_str()
        .or_else(|| v.get("level").and_then(Value::as_str))
}

fn workspace_lint_violations(workspace: &Table) -> Vec<String> {
    let lints = workspace.get("workspace").and_then(|w| w.get("lints"));
    let required: &[(&str, &str)] = &[
        ("rust", "unsafe_code"),
        ("clippy", "await_holding_lock"),
        ("clippy", "dbg_macro"),
        ("clippy", "todo"),
    ];
    let mut out = Vec::new();
    for (tool, lint) in required {
        let lvl = lints
            .and_then(|l| l.get(*tool))
            .and_then(|t| t.get(*lint))
            .and_then(level);
        if !matches!(lvl, Some("deny" | "forbid")) {
            out.push(format!(
                "[workspace.lints.{tool}] must set {lint} = \"deny\" (found {lvl:?})"
            ));
        }
    }
    out
}

fn crate_lint_violation(package: &str, doc: &Table) -> Option<String> {
    let inherits = doc
        .get("lints")
        .and_then(|l| l.get("workspace"))
        .and_then(Value::as_bool)
        == Some(true);
    (!inherits).then(|| format!("{package} must have `[lints] workspace = true`"))
}

#[test]
fn every_crate_depends_only_downwards() {
    let root = workspace_root();
    let workspace = parse(&root.join("Cargo.toml"));
    let found: Vec<String> = manifests(&root)
        .iter()
        .flat_map(|m| violations(&m.package, &m.doc, &workspace))
        .collect();
    assert!(
        found.is_empty(),
        "dependencies against the layering:\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn every_workspace_member_is_checked() {
    let root = workspace_root();
    let workspace = parse(&root.join("Cargo.toml"));
    let members: BTreeSet<PathBuf> = workspace["workspace"]["members"]
        .as_array()
        .expect("[workspace] members")
        .iter()
        .map(|m| {
            root.join(m.as_str().expect("member path"))
                .join("Cargo.toml")
        })
        .collect();
    let scanned: BTreeSet<PathBuf> = manifests(&root).into_iter().map(|m| m.path).collect();
    assert_eq!(
        members, scanned,
        "the workspace members and the manifests this test checks must be the same set"
    );
}

#[test]
fn the_workspace_denies_the_shared_lints() {
    let workspace = parse(&workspace_root().join("Cargo.toml"));
    let found = workspace_lint_violations(&workspace);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn every_crate_inherits_the_workspace_lints() {
    let found: Vec<String> = manifests(&workspace_root())
        .iter()
        .filter_map(|m| crate_lint_violation(&m.package, &m.doc))
        .collect();
    assert!(found.is_empty(), "{}", found.join("\n"));
}

// The checker itself, on made-up manifests, so that the tests above cannot pass by seeing nothing.

fn toml(s: &str) -> Table {
    s.parse().expect("test manifest")
}

const WORKSPACE: &str = r#"
[workspace.dependencies]
invokd-model = { path = "crates/model" }
invokd-server = { path = "crates/server" }
renamed = { path = "crates/server", package = "invokd-server" }
tokio = "1"
"#;

#[test]
fn the_checker_reports_an_upward_dependency_by_crate_and_name() {
    let engine = toml(
        r#"
        [dependencies]
        invokd-model = { workspace = true }
        invokd-server = { workspace = true }
        "#,
    );
    assert_eq!(
        violations("invokd-engine", &engine, &toml(WORKSPACE)),
        [
            "invokd-engine must not depend on invokd-server ([dependencies]): allowed are \
             [\"invokd-model\", \"invokd-store\", \"invokd-supervisor\"]"
        ]
    );
}

#[test]
fn the_checker_sees_through_renames_targets_and_dev_dependencies() {
    let store = toml(
        r#"
        [dependencies]
        server = { workspace = true, package = "invokd-server" }
        [target.'cfg(unix)'.dependencies]
        renamed = { workspace = true }
        [dev-dependencies]
        invokd-engine = { path = "../engine" }
        "#,
    );
    let found = violations("invokd-store", &store, &toml(WORKSPACE));
    assert_eq!(found.len(), 3, "{found:#?}");
    let server = "invokd-store must not depend on invokd-server ([dependencies])";
    assert_eq!(
        found.iter().filter(|f| f.starts_with(server)).count(),
        2,
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|f| f.contains("invokd-engine ([dev-dependencies])")),
        "{found:#?}"
    );
}

#[test]
fn the_checker_reports_forbidden_third_party_crates_but_not_in_dev_dependencies() {
    let model = toml(
        r#"
        [dependencies]
        tokio = { workspace = true }
        http = "1"
        anyhow = "1"
        [dev-dependencies]
        tokio = "1"
        sqlx = "0.8"
        "#,
    );
    assert_eq!(
        violations("invokd-model", &model, &toml(WORKSPACE)),
        [
            "invokd-model must not depend on anyhow ([dependencies]): libraries return their own error enum; anyhow belongs to the binary",
            "invokd-model must not depend on http ([dependencies]): the domain knows nothing of HTTP",
            "invokd-model must not depend on tokio ([dependencies]): model and wire are plain data and pure functions, no runtime",
        ]
    );
    let cli = toml("[dependencies]\nanyhow = \"1\"\nhttp = \"1\"\n");
    assert!(violations("invokd", &cli, &toml(WORKSPACE)).is_empty());
    let store = toml("[dependencies]\nsqlx = \"0.8\"\n");
    assert!(violations("invokd-store", &store, &toml(WORKSPACE)).is_empty());
    let engine = toml("[dependencies]\nsqlx = \"0.8\"\n");
    assert_eq!(
        violations("invokd-engine", &engine, &toml(WORKSPACE)),
        ["invokd-engine must not depend on sqlx ([dependencies]): only the store talks SQL"]
    );
}

#[test]
fn the_checker_refuses_a_crate_it_does_not_know() {
    let found = violations(
        "invokd-newcomer",
        &toml("[dependencies]\n"),
        &toml(WORKSPACE),
    );
    assert_eq!(found.len(), 1);
    assert!(found[0].starts_with("invokd-newcomer is not in the layering table"));
}

#[test]
fn the_checker_reports_missing_lints() {
    let workspace = toml(
        r#"
        [workspace.lints.rust]
        unsafe_code = "warn"
        [workspace.lints.clippy]
        await_holding_lock = { level = "deny", priority = 1 }
        todo = "deny"
        "#,
    );
    assert_eq!(
        workspace_lint_violations(&workspace),
        [
            "[workspace.lints.rust] must set unsafe_code = \"deny\" (found Some(\"warn\"))",
            "[workspace.lints.clippy] must set dbg_macro = \"deny\" (found None)",
        ]
    );
    assert_eq!(
        crate_lint_violation("invokd-wire", &toml("[package]\nname = \"invokd-wire\"\n")),
        Some("invokd-wire must have `[lints] workspace = true`".to_owned())
    );
    assert_eq!(
        crate_lint_violation("invokd-wire", &toml("[lints]\nworkspace = true\n")),
        None
    );
}
