//! Marks the builds that can run the tests which need outside services, so that without them
//! those tests report as ignored (with the reason) instead of passing without running.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(chat_cluster_tests)");
    println!("cargo::rustc-check-cfg=cfg(chat_autobahn_tests)");
    println!("cargo::rustc-check-cfg=cfg(chat_redis_tests)");
    println!("cargo::rerun-if-env-changed=CHAT_TEST_PG_URL");
    println!("cargo::rerun-if-env-changed=CHAT_TEST_REDIS_URL");
    println!("cargo::rerun-if-env-changed=AUTOBAHN_WSTEST");
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if set("CHAT_TEST_PG_URL") && set("CHAT_TEST_REDIS_URL") {
        println!("cargo::rustc-cfg=chat_cluster_tests");
    }
    if set("CHAT_TEST_REDIS_URL") {
        println!("cargo::rustc-cfg=chat_redis_tests");
    }
    if set("AUTOBAHN_WSTEST") {
        println!("cargo::rustc-cfg=chat_autobahn_tests");
    }
}
