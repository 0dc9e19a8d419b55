-- The MTA goes away in the middle of a message: once abruptly (the socket
-- closes without SMFIC_QUIT), once politely (SMFIC_QUIT inside the
-- transaction). sluice must serve the next connection as if nothing
-- happened; the Go test then runs another script against the same process.
dofile("lib.lua")

scenario(function()
	local conn = open()
	send(conn, "connect", SMFIR_CONTINUE, "localhost", "127.0.0.1")
	send(conn, "helo", SMFIR_CONTINUE, "client.example.net")
	send(conn, "mail", SMFIR_CONTINUE, "<alice@example.net>")
	send(conn, "rcpt", SMFIR_CONTINUE, "<quarantine@example.org>")
	send(conn, "data", SMFIR_CONTINUE)
	send(conn, "header", SMFIR_CONTINUE, "X-Spam-Flag", "YES")
	mt.disconnect(conn, false)

	conn = open()
	send(conn, "connect", SMFIR_CONTINUE, "localhost", "127.0.0.1")
	send(conn, "helo", SMFIR_CONTINUE, "client.example.net")
	send(conn, "mail", SMFIR_CONTINUE, "<alice@example.net>")
	send(conn, "rcpt", SMFIR_CONTINUE, "<bob@example.org>")
	mt.disconnect(conn, true)

	conn = open()
	send(conn, "connect", SMFIR_CONTINUE, "localhost", "127.0.0.1")
	send(conn, "helo", SMFIR_CONTINUE, "client.example.net")
	send(conn, "mail", SMFIR_CONTINUE, "<alice@example.net>")
	send(conn, "rcpt", SMFIR_CONTINUE, "<bob@example.org>")
	send(conn, "data", SMFIR_CONTINUE)
	send(conn, "header", SMFIR_CONTINUE, "Subject", "after the hang-ups")
	send(conn, "eoh", SMFIR_CONTINUE)
	send(conn, "body", SMFIR_CONTINUE, "Still here.\r\n")
	eom(conn, SMFIR_CONTINUE)
	plain(conn)

	mt.disconnect(conn)
end)
