//! Black-box tests of the HTTP surfaces: the real server, real databases (SQLite always, PostgreSQL when
//! `LICENSD_TEST_POSTGRES` names a server).

mod common;

mod auth_and_ops;
mod bad_input;
mod catalog;
mod client;
mod client_trust;
mod customers_orders;
mod devmate;
mod finding;
mod front_door;
mod history;
mod hostile_input;
mod licenses;
mod metrics;
mod openapi;
mod roles;
mod scoping;
mod search;
mod search_props;
