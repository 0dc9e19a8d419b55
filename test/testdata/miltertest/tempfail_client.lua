-- Scenario 3: clients in 192.0.2.0/24 get a temporary failure at connect;
-- the network's neighbours, and IPv6 clients, pass.
dofile("lib.lua")

scenario(function()
	for _, ip in ipairs({ "192.0.2.5", "192.0.2.0", "192.0.2.255" }) do
		local conn = open()
		send(conn, "connect", SMFIR_TEMPFAIL, "client.example.net", ip)
		mt.disconnect(conn)
	end

	for _, ip in ipairs({ "192.0.3.1", "192.0.1.255", "2001:db8::5" }) do
		local conn = open()
		send(conn, "connect", SMFIR_CONTINUE, "client.example.net", ip)
		send(conn, "helo", SMFIR_CONTINUE, "client.example.net")
		mt.disconnect(conn)
	end
end)
