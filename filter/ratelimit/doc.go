// Package ratelimit is the built-in filter that limits, per client, how
// often it may connect, start a message and name a recipient, as Postfix's
// anvil server does for smtpd_client_connection_rate_limit,
// smtpd_client_message_rate_limit and smtpd_client_recipient_rate_limit.
//
// # What is counted
//
// Three limits, each a count per Options.Window (0: no limit):
//
//	Connections  each connection, at connect
//	Messages     each MAIL command, at MAIL
//	Recipients   each RCPT command, at RCPT
//
// A client is its IP address: an IPv4 address as a whole (/32), an IPv6
// address by its first Options.IPv6Prefix bits (default /64, the usual
// subnet of one site), since one IPv6 host can pick any address of its
// subnet. An IPv4-mapped IPv6 address (::ffff:192.0.2.1) is the IPv4
// client. A connection without an IP address (a unix socket, or an MTA
// that did not say) is not limited.
//
// # Algorithm: a token bucket, as GCRA
//
// Each limit is a token bucket holding N tokens (the configured count)
// that refills at N per Window: a client may spend N at once, then gets
// one more every Window/N. It is kept as the generic cell rate algorithm
// (GCRA): per client and limit a single "theoretical arrival time"; an
// event at time t is allowed when that time is at most Window - Window/N
// ahead of t, and then moves it Window/N further. So each tracked client
// costs one int64 per limit, a check is a few comparisons under a lock,
// and nothing is swept by a timer.
//
// Why not a fixed window (anvil's): a fixed window lets a client through
// 2N times around a window boundary and then shuts it out for up to a
// whole window; the bucket lets it through N at once and then at the
// configured pace, never more than N per Window on average. An exact
// sliding window (a log of the last N times) would never allow more than
// N in any Window but costs memory proportional to N per client. With
// the bucket, a client that used its N may send one more event each
// Window/N, so a window of length Window can see up to about 2N-1 events
// in the worst case, like a fixed window's boundary, but spread evenly.
//
// A refused event consumes nothing: a client that keeps trying gets
// exactly the configured rate, no more and no less.
//
// # Memory
//
// At most Options.MaxClients clients are tracked (default 100000). The
// table is split into up to 16 shards, each with its own lock and a
// least-recently-used list; the shards' capacities add up to MaxClients,
// and a full shard forgets its least recently seen client to make room.
// A client forgotten while its bucket was not yet full again starts
// afresh: under a flood of distinct clients larger than MaxClients the
// limits become lenient, never the memory unbounded.
//
// # Exemptions
//
// Clients in Options.ExemptNetworks are never counted (nil: loopback,
// 127.0.0.0/8 and ::1/128; an empty, non-nil list exempts nobody). With
// Options.ExemptAuthenticated, a session whose {auth_authen} macro is set
// at MAIL or RCPT is not counted there; the connection, made before AUTH,
// still counts.
//
// # Replies
//
// Over the connection limit the filter answers 421 4.7.0 "Too many
// connections from [ADDR], slow down", which closes the connection (RFC
// 5321 §3.8); over the message or recipient limit, 450 4.7.1 "Too many
// messages from [ADDR], slow down" (or recipients) refuses that MAIL or
// that RCPT only. ADDR is the client's own address, not its network.
//
// # Needs
//
// The filter asks for connect (it learns the client there) whenever a
// limit is set, and for MAIL and RCPT when their limits are. Connect
// never answers when only the message or recipient limits are set. It
// reads only the {auth_authen} macro, at MAIL and RCPT, and only with
// ExemptAuthenticated; otherwise Needs.Macros is empty and non-nil. It
// makes no edit.
//
// # What it does not do
//
// It limits rates, not concurrency (smtpd's max_connections_per_ip caps
// simultaneous connections), and does not count by sender, recipient
// domain, message size or authenticated user. Its state lives in memory:
// a restart, or a rebuilt filter chain, forgets it, and several sluice
// processes do not share it. The clock is Options.Now (default time.Now),
// so tests can drive it.
package ratelimit
