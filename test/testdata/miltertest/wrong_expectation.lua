-- A script that must fail: it expects sluice to refuse a client it
-- accepts. The Go test checks that miltertest then exits non-zero with the
-- helper's message, so a passing scenario means something.
dofile("lib.lua")

scenario(function()
	local conn = open()
	send(conn, "connect", SMFIR_REJECT, "localhost", "127.0.0.1")
	mt.disconnect(conn)
end)
