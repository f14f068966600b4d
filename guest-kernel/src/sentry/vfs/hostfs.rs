//! hostfs: directories shared from the host with --mount (in progress).
