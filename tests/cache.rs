//! The cache's contract, written once and checked on every backend: in-process
//! always, and Redis when `TEST_REDIS_URL` is set (an unreachable Redis fails
//! the run rather than skipping it). Each test uses its own namespace.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::TestDatabase;
use gatehouse::App;
use gatehouse::cache::{Cache, Retention};
use gatehouse::clock::Clock;

/// A cache on every backend under test, each named for assertion messages and
/// under a namespace no other test uses.
async fn caches() -> Vec<(&'static str, Cache)> {
    let mut caches = vec![("memory", Cache::memory())];
    if let Some((url, namespace)) = common::test_redis().await {
        caches.push((
            "redis",
            Cache::connect(Some(&url), &namespace).await.unwrap(),
        ));
    }
    caches
}

/// Long enough for a 1-second TTL to have run out.
async fn outlive_one_second_ttl() {
    tokio::time::sleep(Duration::from_millis(1200)).await;
}

#[tokio::test]
async fn put_then_get_returns_the_latest_value_byte_for_byte() {
    for (name, cache) in caches().await {
        assert_eq!(cache.get("absent").await.unwrap(), None, "{name}");
        cache.put("k", b"first", 60).await.unwrap();
        assert_eq!(
            cache.get("k").await.unwrap().as_deref(),
            Some(&b"first"[..]),
            "{name}"
        );
        assert_eq!(
            cache.get("k").await.unwrap().as_deref(),
            Some(&b"first"[..]),
            "{name}: get keeps the value"
        );
        cache.put("k", b"second", 60).await.unwrap();
        assert_eq!(
            cache.get("k").await.unwrap().as_deref(),
            Some(&b"second"[..]),
            "{name}"
        );
        let binary = [0u8, 255, 10, 13, 0];
        cache.put("binary", &binary, 60).await.unwrap();
        assert_eq!(
            cache.get("binary").await.unwrap().as_deref(),
            Some(&binary[..]),
            "{name}"
        );
        cache.put("empty", b"", 60).await.unwrap();
        assert_eq!(
            cache.get("empty").await.unwrap().as_deref(),
            Some(&b""[..]),
            "{name}"
        );
        cache.ping().await.unwrap();
    }
}

#[tokio::test]
async fn values_and_counter_windows_expire_after_their_ttl() {
    let caches = caches().await;
    for (name, cache) in &caches {
        cache.put("short", b"v", 1).await.unwrap();
        cache.put("taken-late", b"v", 1).await.unwrap();
        cache.put("long", b"v", 60).await.unwrap();
        assert_eq!(cache.incr("window", 1).await.unwrap(), 1, "{name}");
        assert_eq!(
            cache.incr("window", 100).await.unwrap(),
            2,
            "{name}: a later increment counts in the same window"
        );
        assert!(cache.get("short").await.unwrap().is_some(), "{name}");
    }
    outlive_one_second_ttl().await;
    for (name, cache) in &caches {
        assert_eq!(
            cache.get("short").await.unwrap(),
            None,
            "{name}: expired value"
        );
        assert_eq!(
            cache.take("taken-late").await.unwrap(),
            None,
            "{name}: expired take"
        );
        assert!(
            cache.get("long").await.unwrap().is_some(),
            "{name}: unexpired value"
        );
        assert_eq!(
            cache.incr("window", 1).await.unwrap(),
            1,
            "{name}: the window kept the TTL of its first increment and a new one started"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_concurrent_takes_exactly_one_gets_the_value() {
    for (name, cache) in caches().await {
        for round in 0..5 {
            let key = format!("code-{round}");
            cache.put(&key, b"secret", 60).await.unwrap();
            let mut takes = tokio::task::JoinSet::new();
            for _ in 0..20 {
                let (cache, key) = (cache.clone(), key.clone());
                takes.spawn(async move { cache.take(&key).await.unwrap() });
            }
            let winners: Vec<Vec<u8>> = takes.join_all().await.into_iter().flatten().collect();
            assert_eq!(winners, vec![b"secret".to_vec()], "{name}: round {round}");
            assert_eq!(
                cache.get(&key).await.unwrap(),
                None,
                "{name}: taken means gone"
            );
        }
    }
}

#[tokio::test]
async fn delete_removes_and_tolerates_absent_keys() {
    for (name, cache) in caches().await {
        cache.put("k", b"v", 60).await.unwrap();
        cache.delete("k").await.unwrap();
        assert_eq!(cache.get("k").await.unwrap(), None, "{name}");
        cache.delete("never-there").await.unwrap();
        assert_eq!(cache.take("k").await.unwrap(), None, "{name}");
    }
}

#[tokio::test]
async fn incr_counts_per_key_and_refuses_non_counters() {
    for (name, cache) in caches().await {
        for expected in 1..=3 {
            assert_eq!(cache.incr("a", 60).await.unwrap(), expected, "{name}");
        }
        assert_eq!(
            cache.incr("b", 60).await.unwrap(),
            1,
            "{name}: keys count separately"
        );
        assert_eq!(
            cache.get("a").await.unwrap().as_deref(),
            Some(&b"3"[..]),
            "{name}"
        );
        cache.delete("a").await.unwrap();
        assert_eq!(
            cache.incr("a", 60).await.unwrap(),
            1,
            "{name}: a deleted counter restarts"
        );
        cache.put("text", b"not a number", 60).await.unwrap();
        assert!(cache.incr("text", 60).await.is_err(), "{name}");
    }
}

#[tokio::test]
async fn namespaces_keep_deployments_apart() {
    let mut urls = vec![None];
    if let Some((url, _)) = common::test_redis().await {
        urls.push(Some(url));
    }
    for url in urls {
        let name = if url.is_some() { "redis" } else { "memory" };
        let a = Cache::connect(url.as_deref(), &common::random_namespace())
            .await
            .unwrap();
        let b = Cache::connect(url.as_deref(), &common::random_namespace())
            .await
            .unwrap();
        a.put("shared", b"a", 60).await.unwrap();
        assert_eq!(b.get("shared").await.unwrap(), None, "{name}");
        b.put("shared", b"b", 60).await.unwrap();
        assert_eq!(
            a.get("shared").await.unwrap().as_deref(),
            Some(&b"a"[..]),
            "{name}"
        );
        assert_eq!(
            b.take("shared").await.unwrap().as_deref(),
            Some(&b"b"[..]),
            "{name}"
        );
        assert_eq!(
            a.get("shared").await.unwrap().as_deref(),
            Some(&b"a"[..]),
            "{name}"
        );
        assert_eq!(a.incr("n", 60).await.unwrap(), 1, "{name}");
        assert_eq!(b.incr("n", 60).await.unwrap(), 1, "{name}");
    }
}

#[tokio::test]
async fn an_unreachable_redis_stops_the_start_naming_redis_url_without_the_password() {
    let err = Cache::connect(Some("redis://:hunter2@127.0.0.1:1"), "gatehouse:")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot connect to Redis"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");

    let db = TestDatabase::new().await;
    let mut config = db.config("http://127.0.0.1:1");
    config.redis_url = Some("redis://:hunter2@127.0.0.1:1".into());
    let err = match App::build(config.validated().unwrap(), Clock::System).await {
        Ok(_) => panic!("started without its Redis"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("redis_url"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn decr_refunds_a_live_count_and_never_creates_or_extends_a_window() {
    let caches = caches().await;
    for (name, cache) in &caches {
        assert_eq!(cache.decr("absent").await.unwrap(), 0, "{name}");
        assert_eq!(
            cache.get("absent").await.unwrap(),
            None,
            "{name}: a refund creates nothing"
        );
        assert_eq!(cache.incr("window", 1).await.unwrap(), 1, "{name}");
        assert_eq!(cache.decr("window").await.unwrap(), 0, "{name}");
        assert_eq!(
            cache.get("window").await.unwrap(),
            None,
            "{name}: a count refunded to zero leaves no key behind"
        );
        assert_eq!(
            cache.decr("window").await.unwrap(),
            0,
            "{name}: never below zero"
        );
        assert_eq!(cache.incr("window", 1).await.unwrap(), 1, "{name}");
        assert_eq!(cache.incr("window", 60).await.unwrap(), 2, "{name}");
        assert_eq!(cache.decr("window").await.unwrap(), 1, "{name}");
        // Interleaved increments and refunds from many tasks cancel out exactly.
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..40 {
            let cache = cache.clone();
            tasks.spawn(async move {
                cache.incr("busy", 60).await.unwrap();
                cache.decr("busy").await.unwrap();
            });
        }
        tasks.join_all().await;
        assert_eq!(cache.incr("busy", 60).await.unwrap(), 1, "{name}");
        cache.put("text", b"not a number", 60).await.unwrap();
        assert!(cache.decr("text").await.is_err(), "{name}");
    }
    outlive_one_second_ttl().await;
    for (name, cache) in &caches {
        assert_eq!(
            cache.decr("window").await.unwrap(),
            0,
            "{name}: an expired window stays gone"
        );
        assert_eq!(
            cache.incr("window", 60).await.unwrap(),
            1,
            "{name}: the refunds kept the first window's TTL"
        );
    }
}

#[tokio::test]
async fn replace_writes_only_over_a_live_value_and_never_resurrects_a_taken_one() {
    for (name, cache) in &caches().await {
        assert!(
            !cache
                .replace("absent", b"v", 60, Retention::Keep)
                .await
                .unwrap(),
            "{name}"
        );
        assert_eq!(cache.get("absent").await.unwrap(), None, "{name}");
        cache.put("live", b"old", 60).await.unwrap();
        assert!(
            cache
                .replace("live", b"new", 60, Retention::Keep)
                .await
                .unwrap(),
            "{name}"
        );
        assert_eq!(
            cache.get("live").await.unwrap().as_deref(),
            Some(&b"new"[..])
        );
        // Racing takes and replaces: once a take has the value, no replace
        // brings the key back.
        for round in 0..50 {
            let key = format!("race-{round}");
            cache.put(&key, b"v", 60).await.unwrap();
            let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
            let (taker, writer) = (cache.clone(), cache.clone());
            let (k1, k2) = (key.clone(), key.clone());
            let (b1, b2) = (barrier.clone(), barrier.clone());
            let take = tokio::spawn(async move {
                b1.wait().await;
                taker.take(&k1).await.unwrap()
            });
            let write = tokio::spawn(async move {
                b2.wait().await;
                writer
                    .replace(&k2, b"w", 60, Retention::Keep)
                    .await
                    .unwrap()
            });
            let taken = take.await.unwrap();
            let replaced = write.await.unwrap();
            assert!(taken.is_some(), "{name}");
            let left = cache.get(&key).await.unwrap();
            // Either the replace came first (and the take removed its value),
            // or it found nothing to replace: the key is gone either way.
            assert_eq!(left, None, "{name}: round {round}, replaced={replaced}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sets_keep_every_concurrent_add_drop_removed_members_and_expire_whole() {
    for (name, cache) in caches().await {
        let tasks: Vec<_> = (0..32)
            .map(|n| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.set_add("set", &format!("m{n}"), 60, 100).await })
            })
            .collect();
        for task in tasks {
            assert!(
                task.await.unwrap().unwrap().is_empty(),
                "{name}: under the cap"
            );
        }
        let mut members = cache.set_members("set").await.unwrap();
        members.sort();
        let mut expected: Vec<String> = (0..32).map(|n| format!("m{n}")).collect();
        expected.sort();
        assert_eq!(members, expected, "{name}: every concurrent add landed");
        cache.set_add("set", "m0", 60, 100).await.unwrap();
        assert_eq!(
            cache.set_members("set").await.unwrap().len(),
            32,
            "{name}: no duplicates"
        );

        let removed: Vec<String> = (1..32).map(|n| format!("m{n}")).collect();
        cache.set_remove("set", &removed).await.unwrap();
        assert_eq!(cache.set_members("set").await.unwrap(), ["m0"], "{name}");
        cache.set_remove("set", &["m0".to_owned()]).await.unwrap();
        assert!(cache.set_members("set").await.unwrap().is_empty(), "{name}");
        assert_eq!(
            cache.get("set").await.unwrap(),
            None,
            "{name}: an emptied set goes"
        );
    }
}

#[tokio::test]
async fn set_members_expire_one_by_one_and_the_cap_drops_the_soonest_due() {
    for (name, cache) in caches().await {
        cache.set_add("s", "short", 1, 10).await.unwrap();
        cache.set_add("s", "long", 60, 10).await.unwrap();
        outlive_one_second_ttl().await;
        assert_eq!(cache.set_members("s").await.unwrap(), ["long"], "{name}");
        // Over the cap, the member due soonest is dropped and returned.
        cache.set_add("capped", "first", 30, 2).await.unwrap();
        cache.set_add("capped", "second", 40, 2).await.unwrap();
        let dropped = cache.set_add("capped", "third", 50, 2).await.unwrap();
        assert_eq!(dropped, ["first"], "{name}");
        let mut kept = cache.set_members("capped").await.unwrap();
        kept.sort();
        assert_eq!(kept, ["second", "third"], "{name}");
    }
}
