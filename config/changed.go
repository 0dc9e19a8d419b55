package config

import (
	"fmt"
	"reflect"
)

// field reads the value of one key from a Config.
type field struct {
	key string
	get func(*Config) any
}

// fields lists every key of scalarDefaults with where Load puts its value,
// in the order of the contract. TestFieldsCoverSchema keeps the two in step.
func fields() []field {
	return []field{
		{"hostname", func(c *Config) any { return c.Hostname }},
		{"data_dir", func(c *Config) any { return c.DataDir }},
		{"log_level", func(c *Config) any { return c.LogLevel }},

		{"smtp.listen", func(c *Config) any { return c.SMTP.Listen }},
		{"smtp.relay_domains", func(c *Config) any { return c.SMTP.RelayDomains }},
		{"smtp.trusted_networks", func(c *Config) any { return c.SMTP.TrustedNetworks }},
		{"smtp.xclient_hosts", func(c *Config) any { return c.SMTP.XClientHosts }},
		{"smtp.xforward_hosts", func(c *Config) any { return c.SMTP.XForwardHosts }},
		{"smtp.max_message_size", func(c *Config) any { return c.SMTP.MaxMessageSize }},
		{"smtp.max_recipients", func(c *Config) any { return c.SMTP.MaxRecipients }},
		{"smtp.max_connections", func(c *Config) any { return c.SMTP.MaxConnections }},
		{"smtp.max_connections_per_ip", func(c *Config) any { return c.SMTP.MaxConnectionsPerIP }},
		{"smtp.bare_lf", func(c *Config) any { return c.SMTP.BareLF }},
		{"smtp.tls.cert_file", func(c *Config) any { return c.SMTP.TLS.CertFile }},
		{"smtp.tls.key_file", func(c *Config) any { return c.SMTP.TLS.KeyFile }},
		{"smtp.auth.users_file", func(c *Config) any { return c.SMTP.Auth.UsersFile }},
		{"smtp.command_timeout", func(c *Config) any { return c.SMTP.CommandTimeout }},
		{"smtp.data_timeout", func(c *Config) any { return c.SMTP.DataTimeout }},
		{"smtp.connection_timeout", func(c *Config) any { return c.SMTP.ConnectionTimeout }},
		{"smtp.shutdown_timeout", func(c *Config) any { return c.SMTP.ShutdownTimeout }},
		{"smtp.resolve_client_names", func(c *Config) any { return c.SMTP.ResolveClientNames }},
		{"smtp.dns_timeout", func(c *Config) any { return c.SMTP.DNSTimeout }},
		{"smtp.proxy_networks", func(c *Config) any { return c.SMTP.ProxyNetworks }},
		{"smtp.verify_recipients", func(c *Config) any { return c.SMTP.VerifyRecipients }},
		{"smtp.verify_cache_ttl", func(c *Config) any { return c.SMTP.VerifyCacheTTL }},
		{"smtp.verify_negative_ttl", func(c *Config) any { return c.SMTP.VerifyNegativeTTL }},
		{"smtp.verify_timeout", func(c *Config) any { return c.SMTP.VerifyTimeout }},
		{"smtp.verify_on_error", func(c *Config) any { return c.SMTP.VerifyOnError }},

		{"queue.dir", func(c *Config) any { return c.Queue.Dir }},
		{"queue.retry", func(c *Config) any { return c.Queue.Retry }},
		{"queue.max_age", func(c *Config) any { return c.Queue.MaxAge }},
		{"queue.log_max_message", func(c *Config) any { return c.Queue.LogMaxMessage }},
		{"queue.segment_size", func(c *Config) any { return c.Queue.SegmentSize }},

		{"downstream.address", func(c *Config) any { return c.Downstream.Address }},
		{"downstream.tls", func(c *Config) any { return c.Downstream.TLS }},
		{"downstream.xclient", func(c *Config) any { return c.Downstream.XClient }},
		{"downstream.xforward", func(c *Config) any { return c.Downstream.XForward }},

		{"milter_server.listen", func(c *Config) any { return c.MilterServer.Listen }},
		{"milter_server.max_connections", func(c *Config) any { return c.MilterServer.MaxConnections }},
		{"milter_server.read_timeout", func(c *Config) any { return c.MilterServer.ReadTimeout }},
		{"milter_server.write_timeout", func(c *Config) any { return c.MilterServer.WriteTimeout }},
		{"milter_server.shutdown_timeout", func(c *Config) any { return c.MilterServer.ShutdownTimeout }},
		{"milter_server.failure_action", func(c *Config) any { return c.MilterServer.FailureAction }},
		{"milter_server.progress_interval", func(c *Config) any { return c.MilterServer.ProgressInterval }},
		{"milter_server.max_packet", func(c *Config) any { return c.MilterServer.MaxPacket }},

		{"metrics.listen", func(c *Config) any { return c.Metrics.Listen }},

		{"filters.access", func(c *Config) any { return c.Filters.Access }},
		{"filters.dkim", func(c *Config) any { return c.Filters.DKIM }},
		{"filters.dmarc", func(c *Config) any { return c.Filters.DMARC }},
		{"filters.dnsbl", func(c *Config) any { return c.Filters.DNSBL }},
		{"filters.headers", func(c *Config) any { return c.Filters.Headers }},
		{"filters.spf", func(c *Config) any { return c.Filters.SPF }},
		{"filters.greylist", func(c *Config) any { return c.Filters.Greylist }},
		{"filters.ratelimit", func(c *Config) any { return c.Filters.RateLimit }},
	}
}

// Changed returns the keys whose values differ between two loaded
// configurations, in the order of the contract: every scalar key by its
// name ("smtp.relay_domains"), each built-in filter as its table
// ("filters.headers"), and the external milters as "milters[i]" for an
// entry that changed in place, or "milters" when entries were added or
// removed. Lists compare in order; an empty list equals a missing one.
// It is what `sluice serve` reports after a reload.
func Changed(old, cur *Config) []string {
	var out []string
	for _, f := range fields() {
		if !same(f.get(old), f.get(cur)) {
			out = append(out, f.key)
		}
	}
	if len(old.Milters) != len(cur.Milters) {
		return append(out, "milters")
	}
	for i := range old.Milters {
		if !same(old.Milters[i], cur.Milters[i]) {
			out = append(out, fmt.Sprintf("milters[%d]", i))
		}
	}
	return out
}

// same compares two values of one key, a nil list equal to an empty one.
func same(a, b any) bool {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	if va.Kind() == reflect.Slice && vb.Kind() == reflect.Slice && va.Len() == 0 && vb.Len() == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

// Keys returns every key Changed reports, in the order of the contract:
// the scalar keys, the built-in filters' tables, then "milters".
func Keys() []string {
	var out []string
	for _, f := range fields() {
		out = append(out, f.key)
	}
	return append(out, "milters")
}
