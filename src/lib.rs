//! `runner`: runs declarative HTTP API flows written in YAML.
//!
//! The modules follow the data: [`cli`] arguments → [`spec`] (load, validate) →
//! [`template`] → [`http`] → [`auth`] → [`run`] (steps, captures, checks) → [`report`].
//! [`app`] strings them together; [`sandbox`] is the independent Umbraco stand-in.

pub mod app;
pub mod auth;
pub mod cli;
pub mod exit;
pub mod http;
pub mod report;
pub mod run;
pub mod sandbox;
pub mod secret;
pub mod spec;
pub mod template;
