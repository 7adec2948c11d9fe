//! The end-to-end suite every thinftp runtime binary must pass, written once and instantiated per
//! runtime.
//!
//! Each scenario is a function taking the path of a server binary. It starts its own server
//! process on `127.0.0.1:0` over a fresh temporary root ([`Server`]), talks to it over real
//! sockets ([`Client`], or a real FTP client program), checks replies and the disk, and kills the
//! server when it ends, also when it fails.
//!
//! A runtime crate instantiates the suite in its integration tests:
//!
//! ```text
//! // runtimes/std/tests/suite.rs
//! thinftp_testsuite::suite!(env!("CARGO_BIN_EXE_thinftp-std"));
//! // runtimes/std/tests/clients.rs
//! thinftp_testsuite::clients!(env!("CARGO_BIN_EXE_thinftp-std"));
//! ```
//!
//! Each macro expands to one `#[test]` per scenario, named after it. The real-client scenarios
//! print `skipped: <tool> not installed` and pass when the program is missing (`.ci/run`
//! installs curl, lftp and wget).
#![warn(missing_docs)]

pub mod big_listings;
pub mod client_defects;
pub mod client_features;
pub mod clients;
pub mod commands;
pub mod containment;
pub mod ftp;
pub mod ftps;
pub mod ftps_options;
pub mod globbing;
pub mod hostile_holds;
pub mod hostile_logins;
pub mod lifecycle;
pub mod limits;
pub mod load;
pub mod object_store;
pub mod observability;
pub mod operations;
pub mod proxy_protocol;
pub mod rate_sharing;
pub mod refusals;
pub mod resume_safety;
pub mod s3_server;
pub mod safety;
pub mod scale_out;
pub mod server;
pub mod shared_dir;
pub mod transfers;
pub mod user_storage;
pub mod util;

pub use ftp::{Client, DataMode, Reply};
pub use server::Server;

/// Expands to one `#[test]` per protocol scenario, each running against the server binary at
/// `$bin` (an expression giving a `&str` path, usually `env!("CARGO_BIN_EXE_<name>")`).
#[macro_export]
macro_rules! suite {
    ($bin:expr) => {
        $crate::__scenarios!($bin;
            commands::commands_around_login,
            commands::file_management_commands,
            commands::listing_commands,
            commands::data_channel_commands,
            transfers::byte_exact_small_files,
            transfers::byte_exact_64_mib,
            transfers::every_data_connection_mode,
            transfers::type_a_converts_both_ways,
            transfers::rest_resumes_both_ways,
            transfers::abor_mid_download,
            transfers::abor_mid_upload,
            safety::broken_upload_keeps_the_old_file,
            safety::symlinks_out_of_the_root_are_refused,
            safety::foreign_data_connection_is_refused,
            safety::anonymous_is_read_only_by_default,
            containment::homes_are_a_boundary,
            containment::symlink_targets_outside_the_home_are_hidden,
            containment::uploads_set_no_special_bits_and_follow_umask,
            containment::names_that_are_not_utf8_are_reachable,
            containment::shutdown_cut_upload_leaves_no_temp_file,
            containment::passive_ports_are_random,
            containment::passive_listeners_per_address_are_capped,
            observability::metrics_count_what_happens,
            observability::transfer_log_xferlog,
            observability::transfer_log_json,
            observability::audit_lines_for_every_change,
            observability::transfer_log_keeps_what_shutdown_cut,
            load::concurrent_sessions,
            load::session_limit_total,
            load::session_limit_per_ip,
            load::idle_timeout,
            load::busy_polling_off_and_long,
            load::stalled_transfer_fails,
            load::data_timeout,
            lifecycle::sigterm_lets_transfers_finish,
            lifecycle::sigterm_past_the_grace_replies_426_and_421,
            lifecycle::sigterm_tells_idle_sessions_421,
            hostile_logins::failed_logins_keep_memory_flat,
            hostile_logins::hangups_after_pass_do_not_starve_a_real_login,
            hostile_logins::brute_force_is_banned_across_sessions,
            hostile_logins::sessions_not_logged_in_are_capped,
            hostile_holds::sessions_that_never_log_in_end_at_the_login_deadline,
            hostile_holds::queued_lines_behind_a_pending_login_are_bounded,
            big_listings::big_listings_keep_memory_flat,
            big_listings::stat_of_a_big_directory_is_capped,
            big_listings::pattern_listings_keep_memory_flat,
            globbing::patterns_match_in_a_big_directory,
            operations::config_file_is_read_and_checked,
            operations::several_listen_addresses,
            operations::ipv6_extended_data_connections,
            operations::socket_activation_uses_the_inherited_listener,
            operations::readiness_is_notified,
            operations::journal_format_when_stderr_is_the_journal,
            operations::sighup_reloads_users_and_keeps_sessions,
            object_store::s3_transfers_are_byte_exact,
            object_store::s3_commands_and_refusals,
            object_store::s3_broken_upload_keeps_the_old_object,
            user_storage::users_on_storages_of_their_own,
            user_storage::a_bad_storage_url_stops_the_start,
            limits::rate_limits_hold_both_ways,
            limits::server_rate_is_shared_by_sessions,
            limits::quotas_refuse_with_552_and_keep_the_old_file,
            limits::sighup_applies_bans_and_the_passive_cap,
            limits::quota_sees_changes_made_behind_the_servers_back,
            rate_sharing::a_users_rate_is_shared_by_its_sessions,
            rate_sharing::listings_are_paced_like_downloads,
            resume_safety::a_broken_rest_stor_leaves_the_file_as_it_was,
            resume_safety::a_rest_stor_stopped_by_the_quota_leaves_the_file_as_it_was,
        );
    };
}

/// Expands to one `#[test]` per real FTP client (curl, wget, lftp, Python's ftplib) against the
/// server binary at `$bin`.
#[macro_export]
macro_rules! clients {
    ($bin:expr) => {
        $crate::__scenarios!($bin;
            clients::curl_upload_download_list,
            clients::curl_active_mode,
            clients::curl_create_dirs,
            clients::wget_download,
            clients::lftp_mirror_both_ways,
            clients::python_ftplib,
            client_defects::tnftp_mdelete_dash_names,
            client_defects::python_ftplib_last_failed_login,
            client_defects::ascii_rest_between_cr_and_lf,
            globbing::tnftp_mget_pattern,
            globbing::tnftp_mdelete_pattern,
            globbing::inetutils_ftp_mget_pattern,
            globbing::ncftpget_pattern,
            refusals::curl_upload_to_missing_dir,
            refusals::python_ftplib_stor_to_missing_dir,
            client_features::rclone_keeps_modification_times,
            client_features::lftp_mirror_reverse_keeps_times_and_modes,
            client_features::hash_and_attributes_over_a_socket,
            ftps::ftps_curl,
            ftps::ftps_reuse_requirement_can_be_turned_off,
            ftps::ftps_lftp_mirror_both_ways,
            ftps::ftps_rclone_copy_check,
            ftps::ftps_rclone_several_connections_with_reuse_same_user,
            ftps::ftps_python_ftplib,
            ftps::ftps_sighup_reloads_the_certificate,
            ftps_options::ftps_curl_ccc,
            ftps_options::ftps_client_certificates,
            ftps_options::ftps_implicit_help,
            object_store::s3_real_clients,
        );
    };
}

/// Expands to one `#[test]` per PROXY protocol and scale-out scenario (issue 12) against the
/// server binary at `$bin`: headers written by hand, and two nodes behind HAProxy.
#[macro_export]
macro_rules! scale_out {
    ($bin:expr) => {
        $crate::__scenarios!($bin;
            proxy_protocol::headers_from_an_allowed_proxy_name_the_client,
            proxy_protocol::a_header_from_elsewhere_is_a_bad_command,
            scale_out::the_shipped_haproxy_config_is_valid,
            scale_out::two_nodes_behind_haproxy,
            scale_out::two_nodes_on_a_bucket_behind_haproxy,
            shared_dir::killed_node_leaves_no_partial_new_file,
        );
    };
}

/// One `#[test]` per `module::scenario`, calling it with the binary's path.
#[doc(hidden)]
#[macro_export]
macro_rules! __scenarios {
    ($bin:expr; $($module:ident :: $name:ident),+ $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::$module::$name(::std::path::Path::new($bin));
            }
        )+
    };
}
