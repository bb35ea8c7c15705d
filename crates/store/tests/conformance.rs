//! Conformance suite for `Store`: every backend must pass it. Today that is SQLite; a PostgreSQL
//! backend runs the same functions against its own instance.

use std::collections::BTreeMap;

use invokd_model::{
    Architecture, CodeRef, Function, FunctionConfig, FunctionName, LoggingConfig, Runtime,
    TracingMode, VersionId, VersionRecord,
};
use invokd_store::{CodeStore, DeadLetter, NewEvent, Progress, Store};

fn function(name: &str) -> Function {
    let config = FunctionConfig {
        runtime: Runtime::try_new("provided.al2023").unwrap(),
        handler: Some("bootstrap".into()),
        role: "arn:aws:iam::123456789012:role/r".into(),
        description: String::new(),
        timeout: 3,
        memory_size: 128,
        environment: None,
        architecture: Architecture::X86_64,
        ephemeral_storage: 512,
        dead_letter_target: None,
        tracing_mode: TracingMode::PassThrough,
        logging: LoggingConfig::default(),
        tenancy: None,
        kms_key_arn: None,
    };
    Function {
        name: FunctionName::try_new(name).unwrap(),
        latest: VersionRecord {
            version: VersionId::Latest,
            config,
            code: CodeStore::digest(b"zip"),
            revision_id: "r1".into(),
            last_modified_ms: 1,
        },
        versions: BTreeMap::new(),
        aliases: BTreeMap::new(),
        tags: BTreeMap::new(),
        last_published: 0,
        reserved_concurrency: None,
        event_invoke_configs: Default::default(),
        provisioned: Default::default(),
        recursive_loop: Default::default(),
        published_description: None,
        policy: Vec::new(),
        qualified_policies: BTreeMap::new(),
    }
}

async fn sqlite() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("invokd.db"))
        .await
        .unwrap();
    (dir, store)
}

#[tokio::test]
async fn insert_is_refused_for_an_existing_name() {
    let (_dir, store) = sqlite().await;
    assert!(store.insert_function(&function("a")).await.unwrap());
    assert!(!store.insert_function(&function("a")).await.unwrap());
    assert_eq!(store.load_functions().await.unwrap().len(), 1);
}

#[tokio::test]
async fn updates_and_deletes_are_durable_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("invokd.db");
    {
        let store = Store::open_sqlite(&path).await.unwrap();
        store.insert_function(&function("a")).await.unwrap();
        store.insert_function(&function("b")).await.unwrap();
        let mut a = function("a");
        a.latest.revision_id = "r2".into();
        a.tags.insert("k".into(), "v".into());
        store.update_function(&a).await.unwrap();
        store
            .delete_function(&FunctionName::try_new("b").unwrap())
            .await
            .unwrap();
        store.close().await;
    }
    let store = Store::open_sqlite(&path).await.unwrap();
    let all = store.load_functions().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].latest.revision_id, "r2");
    assert_eq!(all[0].tags.get("k").map(String::as_str), Some("v"));
}

#[tokio::test]
async fn resource_policies_are_stored_with_their_function() {
    use invokd_model::policy::{Permission, PermissionConditions, PermissionPrincipal};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("invokd.db");
    let grant = |sid: &str, resource: &str| Permission {
        sid: sid.into(),
        action: "lambda:InvokeFunction".into(),
        principal: PermissionPrincipal::Aws("arn:aws:iam::222222222222:root".into()),
        resource: resource.into(),
        conditions: PermissionConditions {
            principal_org_id: Some("o-abcdefghij".into()),
            ..Default::default()
        },
    };
    let mut a = function("a");
    a.policy.push(grant(
        "fn",
        "arn:aws:lambda:us-east-1:000000000000:function:a",
    ));
    a.qualified_policies.insert(
        "live".into(),
        vec![grant(
            "alias",
            "arn:aws:lambda:us-east-1:000000000000:function:a:live",
        )],
    );
    {
        let store = Store::open_sqlite(&path).await.unwrap();
        store.insert_function(&a).await.unwrap();
        store.close().await;
    }
    let store = Store::open_sqlite(&path).await.unwrap();
    let loaded = store.load_functions().await.unwrap();
    assert_eq!(loaded[0].policy, a.policy);
    assert_eq!(loaded[0].qualified_policies, a.qualified_policies);
}

#[test]
fn documents_written_before_policies_existed_load_without_any() {
    let mut doc = serde_json::to_value(function("old")).unwrap();
    let obj = doc.as_object_mut().unwrap();
    obj.remove("policy");
    obj.remove("qualified_policies");
    let parsed: Function = serde_json::from_value(doc).unwrap();
    assert!(parsed.policy.is_empty() && parsed.qualified_policies.is_empty());
}

#[test]
fn code_is_content_addressed() {
    let dir = tempfile::tempdir().unwrap();
    let code = CodeStore::open(dir.path()).unwrap();
    let a = code.put(b"package").unwrap();
    let b = code.put(b"package").unwrap();
    assert_eq!(a, b);
    assert_eq!(a.size, 7);
    assert_eq!(code.read(&a.sha256_hex).unwrap(), b"package");
    let expected: CodeRef = CodeStore::digest(b"package");
    assert_eq!(a.sha256, expected.sha256);
}

fn new_event(request_id: &str, at_ms: i64) -> NewEvent {
    NewEvent {
        request_id: request_id.into(),
        function_name: "f".into(),
        qualifier: None,
        payload: b"{}".to_vec(),
        trace_header: None,
        tenant_id: None,
        enqueued_at_ms: at_ms,
    }
}

#[tokio::test]
async fn progress_of_many_events_is_recorded_in_one_batch() {
    let (_dir, store) = sqlite().await;
    let events: Vec<NewEvent> = (0..3)
        .map(|i| new_event(&format!("r{i}"), 1_000 + i))
        .collect();
    store.enqueue_events(&events).await.unwrap();
    let leased = store.lease_due_events(2_000, 10, 60_000).await.unwrap();
    let ids: Vec<i64> = leased.iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), 3);
    let dead = DeadLetter {
        id: 0,
        request_id: "r0".into(),
        function_name: "f".into(),
        qualifier: None,
        payload: b"{}".to_vec(),
        target: "arn:aws:sqs:us-east-1:000000000000:dlq".into(),
        message: "record".into(),
        attributes: None,
        error: "unreachable".into(),
        failed_at_ms: 2_000,
    };
    store
        .record_progress(&[
            Progress::Finished {
                id: ids[0],
                dead_letters: vec![dead],
            },
            Progress::Rescheduled {
                id: ids[1],
                due_at_ms: 90_000,
                attempts: 2,
                system_retries: 1,
                last_error: "Unhandled".into(),
            },
            Progress::Finished {
                id: ids[2],
                dead_letters: Vec::new(),
            },
        ])
        .await
        .unwrap();

    let left = store.list_events(None, 10).await.unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    let e = &left[0];
    assert_eq!(
        (
            e.request_id.as_str(),
            e.due_at_ms,
            e.attempts,
            e.system_retries,
            e.leased
        ),
        ("r1", 90_000, 2, 1, false)
    );
    assert_eq!(e.last_error.as_deref(), Some("Unhandled"));
    let dead = store.list_dead_letters(None, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].request_id.as_str(), dead[0].error.as_str()),
        ("r0", "unreachable")
    );
    // Not due again before its time; then leased again.
    assert!(
        store
            .lease_due_events(89_999, 10, 200_000)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .lease_due_events(90_000, 10, 200_000)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_batch_of_events_is_stored_whole_or_not_at_all() {
    let (_dir, store) = sqlite().await;
    // Small enough for one statement, then large enough for several in one transaction.
    for (size, prefix) in [(30, "small"), (2_500, "large")] {
        let events: Vec<NewEvent> = (0..size)
            .map(|i| new_event(&format!("{prefix}-{i}"), 1_000))
            .collect();
        store.enqueue_events(&events).await.unwrap();
        let stored = store.list_events(None, 10_000).await.unwrap();
        assert!(
            (0..size).all(|i| stored
                .iter()
                .any(|e| e.request_id == format!("{prefix}-{i}"))),
            "every event of the {prefix} batch is stored"
        );
        // As many new events again, then one already stored: the last one fails the batch (in
        // the large one, after whole statements of it succeeded), and none of it may stay.
        let mut retry: Vec<NewEvent> = (0..size)
            .map(|i| new_event(&format!("{prefix}-new-{i}"), 1_000))
            .collect();
        retry.push(new_event(&format!("{prefix}-0"), 1_000));
        assert!(store.enqueue_events(&retry).await.is_err());
        let after = store.list_events(None, 10_000).await.unwrap();
        assert_eq!(
            after.len(),
            stored.len(),
            "{prefix}: nothing of a failed batch"
        );
    }
}
