-- Scenario 4: a HELO name under bad.example is refused; bad.example itself
-- and names that merely end in the same letters pass. A repeated HELO (as
-- after STARTTLS) is judged afresh.
dofile("lib.lua")

scenario(function()
	local conn = open()
	send(conn, "connect", SMFIR_CONTINUE, "localhost", "127.0.0.1")
	send(conn, "helo", SMFIR_REJECT, "mx.bad.example")
	mt.disconnect(conn)

	conn = open()
	send(conn, "connect", SMFIR_CONTINUE, "localhost", "127.0.0.1")
	send(conn, "helo", SMFIR_CONTINUE, "bad.example")
	send(conn, "helo", SMFIR_CONTINUE, "notbad.example")
	send(conn, "helo", SMFIR_REJECT, "deep.mx.BAD.example")
	mt.disconnect(conn)
end)
