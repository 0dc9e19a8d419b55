-- Scenario 5: a message for quarantine@example.org goes through every
-- stage and is quarantined at end of message with the configured reason;
-- the headers filter still does its work.
dofile("lib.lua")

scenario(function()
	local conn = open()
	send(conn, "connect", SMFIR_CONTINUE, "localhost", "127.0.0.1")
	send(conn, "helo", SMFIR_CONTINUE, "client.example.net")
	send(conn, "mail", SMFIR_CONTINUE, "<alice@example.net>")
	send(conn, "rcpt", SMFIR_CONTINUE, "<bob@example.org>")
	send(conn, "rcpt", SMFIR_CONTINUE, "<quarantine@example.org>")
	send(conn, "data", SMFIR_CONTINUE)
	send(conn, "header", SMFIR_CONTINUE, "Subject", "hold me")
	send(conn, "header", SMFIR_CONTINUE, "X-Spam-Flag", "YES")
	send(conn, "eoh", SMFIR_CONTINUE)
	send(conn, "body", SMFIR_CONTINUE, "Suspicious.\r\n")
	eom(conn, SMFIR_CONTINUE)

	edit(conn, true, "quarantined for \"test quarantine\"", MT_QUARANTINE, "test quarantine")
	edit(conn, false, "quarantined for the default reason", MT_QUARANTINE, "access rule 2: quarantine@example.org")
	added(conn, "X-Filtered-By", "sluice")
	edit(conn, true, "X-Spam-Flag 1 deleted", MT_HDRDELETE, "X-Spam-Flag", 1)
	edit(conn, false, "X-Spam-Flag 2 deleted", MT_HDRDELETE, "X-Spam-Flag", 2)
	edit(conn, false, "body replaced", MT_BODYCHANGE)

	mt.disconnect(conn)
end)
