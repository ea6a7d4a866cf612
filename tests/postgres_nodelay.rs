//! The PostgreSQL connections of the store's pool have TCP_NODELAY set (src/store/nodelay.rs).
#![cfg(target_os = "linux")]

mod common;

use pipeline::store::Store;
use sea_orm::ConnectionTrait;
use sea_orm::sqlx::postgres::PgConnectOptions;

/// Every TCP socket this process holds to the PostgreSQL server, after the store's pool has
/// opened a connection and run a query on it, has TCP_NODELAY on. sqlx 0.9.0 does not set it
/// (launchbadge/sqlx#4335); `store::nodelay` does, from the pool's `after_connect` hook. This
/// test keeps passing when a sqlx release sets the flag itself, so it does not say when the
/// module can go: run it with the hook taken out of `Store::options`, and once it passes like
/// that, sqlx sets the flag and the module (and the hook) can be deleted, with this test kept.
///
/// It only reads: the store connects to the database `PIPELINE_TEST_DATABASE_URL` names and
/// runs `SELECT 1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(pipeline_postgres_tests),
    ignore = "PostgreSQL test: set PIPELINE_TEST_DATABASE_URL to run it"
)]
async fn pooled_postgres_connections_have_tcp_nodelay() {
    let url = common::postgres_admin_url();
    let options: PgConnectOptions = url.parse().expect("a PostgreSQL URL");
    assert!(
        options.get_socket().is_none(),
        "{} must reach the server over TCP",
        common::PG_URL_ENV
    );
    let port = options.get_port();

    let store = Store::connect(&url).await.expect("connect");
    store
        .connection()
        .execute_unprepared("SELECT 1")
        .await
        .expect("query");

    let nodelay = pipeline::store::peer_port_sockets_nodelay(port);
    assert!(
        !nodelay.is_empty(),
        "no TCP socket to port {port} is open after a query: nothing was checked"
    );
    assert!(
        nodelay.iter().all(|&on| on),
        "TCP_NODELAY per socket to port {port}: {nodelay:?}"
    );
    store.close().await.ok();
}
