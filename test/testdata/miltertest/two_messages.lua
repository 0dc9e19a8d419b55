-- Scenario 7: several transactions on one connection. A message aborted
-- after its headers leaves nothing behind; the next one is quarantined and
-- loses its one X-Spam-Flag; the one after that is plain again. Unknown
-- SMTP commands, when the negotiation lets the MTA send them, continue.
dofile("lib.lua")

scenario(function()
	local conn = open()
	send(conn, "connect", SMFIR_CONTINUE, "localhost", "127.0.0.1")
	send(conn, "unknown", SMFIR_CONTINUE, "XYZZY plugh")
	send(conn, "helo", SMFIR_CONTINUE, "client.example.net")

	-- Message 1, aborted after the header section.
	send(conn, "mail", SMFIR_CONTINUE, "<alice@example.net>")
	send(conn, "rcpt", SMFIR_CONTINUE, "<quarantine@example.org>")
	send(conn, "data", SMFIR_CONTINUE)
	send(conn, "header", SMFIR_CONTINUE, "X-Spam-Flag", "YES")
	send(conn, "header", SMFIR_CONTINUE, "X-Spam-Flag", "YES")
	send(conn, "eoh", SMFIR_CONTINUE)
	mt.abort(conn)
	send(conn, "unknown", SMFIR_CONTINUE, "HELP me")

	-- Message 2: one X-Spam-Flag, so only occurrence 1 is deleted.
	send(conn, "mail", SMFIR_CONTINUE, "<alice@example.net>")
	send(conn, "rcpt", SMFIR_CONTINUE, "<quarantine@example.org>")
	send(conn, "data", SMFIR_CONTINUE)
	send(conn, "header", SMFIR_CONTINUE, "Subject", "second")
	send(conn, "header", SMFIR_CONTINUE, "X-Spam-Flag", "YES")
	send(conn, "eoh", SMFIR_CONTINUE)
	send(conn, "body", SMFIR_CONTINUE, "Two.\r\n")
	eom(conn, SMFIR_CONTINUE)
	edit(conn, true, "X-Spam-Flag 1 deleted", MT_HDRDELETE, "X-Spam-Flag", 1)
	edit(conn, false, "X-Spam-Flag 2 deleted", MT_HDRDELETE, "X-Spam-Flag", 2)
	edit(conn, true, "quarantined", MT_QUARANTINE, "test quarantine")
	added(conn, "X-Filtered-By", "sluice")

	-- Message 3: nothing carried over from message 2.
	send(conn, "mail", SMFIR_CONTINUE, "<alice@example.net>")
	send(conn, "rcpt", SMFIR_CONTINUE, "<bob@example.org>")
	send(conn, "data", SMFIR_CONTINUE)
	send(conn, "header", SMFIR_CONTINUE, "Subject", "third")
	send(conn, "eoh", SMFIR_CONTINUE)
	send(conn, "body", SMFIR_CONTINUE, "Three.\r\n")
	eom(conn, SMFIR_CONTINUE)
	plain(conn)

	mt.disconnect(conn)
end)
