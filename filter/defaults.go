package filter

// DefaultMacros returns the macro set Postfix 3.7 sends to milters per
// stage by default (its milter_*_macros parameters): what an MTA sends a
// filter whose Needs.Macros is nil. The map is new on each call.
func DefaultMacros() map[Stage][]string {
	return map[Stage][]string{
		StageConnect:      {"j", "{daemon_name}", "{daemon_addr}", "v", "_"},
		StageHelo:         {"{tls_version}", "{cipher}", "{cipher_bits}", "{cert_subject}", "{cert_issuer}"},
		StageMail:         {"i", "{auth_type}", "{auth_authen}", "{auth_author}", "{mail_addr}", "{mail_host}", "{mail_mailer}"},
		StageRcpt:         {"i", "{rcpt_addr}", "{rcpt_host}", "{rcpt_mailer}"},
		StageData:         {"i"},
		StageEndOfHeaders: {"i"},
		StageEndOfMessage: {"i"},
	}
}
