// Command sluice is the one binary of sluice: the SMTP front-end (serve),
// the milter server (milter), a milter test harness (milter-test), queue
// operations (queue), configuration checks (check-config), DKIM key generation (dkim-keygen)
// and version.
//
// It is the only package that wires the others together: it loads a
// config.Config (file, SLUICE_* environment, flags), builds each package's
// options struct from it, sets up logging and signals, and runs.
//
// Exit codes: 0 success; 1 a runtime or configuration error; 2 a usage
// error or a command that is not implemented yet.
//
// The command line uses cobra (with pflag): its flag sets bind directly to
// the config package's keys, and it gives nested commands (queue list,
// queue show ID, ...) and generated help without hand-written dispatch.
package main
