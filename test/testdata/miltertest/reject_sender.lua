-- Scenario 2: the sender spammer@example.com is refused at MAIL with the
-- configured reply (SMFIR_REPLYCODE), in any letter case and with ESMTP
-- parameters; the connection goes on and another sender passes.
--
-- miltertest shows only the reply's command byte before end of message,
-- not its text; the Go test reads the exact text over a raw connection.
dofile("lib.lua")

scenario(function()
	local conn = open()
	send(conn, "connect", SMFIR_CONTINUE, "localhost", "127.0.0.1")
	send(conn, "helo", SMFIR_CONTINUE, "client.example.net")
	send(conn, "mail", SMFIR_REPLYCODE, "<spammer@example.com>")
	mt.abort(conn) -- the MTA ends the refused transaction

	send(conn, "mail", SMFIR_REPLYCODE, "<SPAMMER@Example.COM>", "SIZE=1000", "BODY=8BITMIME")
	mt.abort(conn)

	send(conn, "mail", SMFIR_CONTINUE, "<nospammer@example.com>")
	send(conn, "rcpt", SMFIR_CONTINUE, "<bob@example.org>")
	send(conn, "data", SMFIR_CONTINUE)
	send(conn, "header", SMFIR_CONTINUE, "Subject", "after a refused sender")
	send(conn, "eoh", SMFIR_CONTINUE)
	send(conn, "body", SMFIR_CONTINUE, "Hello.\r\n")
	eom(conn, SMFIR_CONTINUE)
	plain(conn)

	mt.disconnect(conn)
end)
