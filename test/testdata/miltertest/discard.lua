-- Scenario 6: a recipient in the domain discard.example discards the
-- message (SMFIR_DISCARD at RCPT, in any letter case); a subdomain of it
-- does not match, so the next message passes.
dofile("lib.lua")

scenario(function()
	local conn = open()
	send(conn, "connect", SMFIR_CONTINUE, "localhost", "127.0.0.1")
	send(conn, "helo", SMFIR_CONTINUE, "client.example.net")
	send(conn, "mail", SMFIR_CONTINUE, "<alice@example.net>")
	send(conn, "rcpt", SMFIR_CONTINUE, "<bob@example.org>")
	send(conn, "rcpt", SMFIR_DISCARD, "<carol@discard.example>")
	mt.abort(conn)

	send(conn, "mail", SMFIR_CONTINUE, "<alice@example.net>")
	send(conn, "rcpt", SMFIR_DISCARD, "<carol@DISCARD.Example>")
	mt.abort(conn)

	send(conn, "mail", SMFIR_CONTINUE, "<alice@example.net>")
	send(conn, "rcpt", SMFIR_CONTINUE, "<carol@sub.discard.example>")
	send(conn, "data", SMFIR_CONTINUE)
	send(conn, "header", SMFIR_CONTINUE, "Subject", "kept")
	send(conn, "eoh", SMFIR_CONTINUE)
	send(conn, "body", SMFIR_CONTINUE, "Delivered.\r\n")
	eom(conn, SMFIR_CONTINUE)
	plain(conn)

	mt.disconnect(conn)
end)
