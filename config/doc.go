// Package config loads sluice's configuration: a TOML file, SLUICE_*
// environment variables and command-line flags over built-in defaults, and
// validates the result into typed structs (Config) with errors that name the
// file and the key.
//
// Precedence, highest first: a flag the user set, an environment variable
// (the key path in upper case, dots as underscores: SLUICE_SMTP_LISTEN sets
// smtp.listen; list keys take comma-separated values), the file, the
// default. Without a file every key has a default that runs on loopback:
// the SMTP front-end on 127.0.0.1:2525, the milter server on
// inet:8890@127.0.0.1. The tables [[milters]] and [filters.*] come from the
// file only; when the file has no [filters] table the built-in default set
// applies ([filters.headers] adding "X-Filtered-By: sluice").
//
// Durations are Go durations with an optional leading day count ("30s",
// "1h30m", "5d", "1d12h"); sizes are bytes with an optional SI or IEC unit
// ("1GB", "50MiB"). Milter sockets use the Sendmail/Postfix syntax
// (unix:/path, inet:port@host, inet6:port@host, inet:host:port).
//
// A [[milters]] entry takes name (default: the address), address
// (required), default_action (tempfail), connect_timeout (5s),
// command_timeout (30s), eom_timeout (5m), max_idle_conns (0) and
// idle_timeout (30s). max_idle_conns > 0 keeps up to that many milter
// connections open between SMTP sessions for idle_timeout, ended with
// SMFIC_QUIT_NC and reused without a new connect and option negotiation.
// It is off by default because Postfix and Sendmail never do it: libmilter
// accepts SMFIC_QUIT_NC only after an end of message it answered with
// continue (the client keeps only such connections), and a milter that
// does not know it closes the connection, after which the client stops
// trying for that milter. Turn it on for milters known to support it, in
// front of many short SMTP sessions.
//
// Load checks everything it can and reports every problem at once: unknown
// keys (with a suggestion for near-misses), wrong types, out-of-range numbers,
// bad durations, sizes, addresses, networks and enum values. Array entries
// are named with zero-based indexes: "sluice.toml: filters.access.rules[2].action:
// unknown action". What a filter's own settings mean (access patterns and
// replies) is the filter's to judge: cmd/sluice builds the filters and
// reports their errors in the same FILE: KEY: message form.
//
// Changed compares two loaded configurations key by key (Keys lists the
// names it uses): `sluice serve` loads the file again on SIGHUP and
// reports, and applies, what changed.
//
// Only this package and cmd/sluice know viper; every other package takes
// its own typed options struct, which cmd/sluice fills from a Config. The
// package imports nothing of sluice.
package config
