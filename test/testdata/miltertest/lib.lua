-- Helpers shared by the scenario scripts in this directory. A script loads
-- them with dofile("lib.lua"): the Go test runs miltertest with this
-- directory as its working directory.
--
-- Globals the Go test defines with miltertest -D:
--   port         the TCP port `sluice milter` listens on, on 127.0.0.1
--   negotiation  "default": option negotiation as miltertest does it by
--                itself, offering every SMFIP_NO*/SMFIP_NR_* option the way
--                Postfix does, so sluice may decline the stages it does not
--                need; "full": the MTA offers no protocol option at all, so
--                every stage is sent and every stage is answered.
--
-- A script is one call of scenario(function() ... end). Every stage goes
-- through send(), which asserts sluice's exact reply; the Go test looks for
-- the "PASS" line scenario prints when the function returns.

assert(port ~= nil, "run miltertest with -D port=N")
negotiation = negotiation or "default"
assert(negotiation == "default" or negotiation == "full",
	"negotiation must be default or full, not " .. tostring(negotiation))

local reply_names = {
	[SMFIR_CONTINUE] = "SMFIR_CONTINUE",
	[SMFIR_ACCEPT] = "SMFIR_ACCEPT",
	[SMFIR_REJECT] = "SMFIR_REJECT",
	[SMFIR_TEMPFAIL] = "SMFIR_TEMPFAIL",
	[SMFIR_DISCARD] = "SMFIR_DISCARD",
	[SMFIR_REPLYCODE] = "SMFIR_REPLYCODE",
}
if SMFIR_SKIP ~= nil then
	reply_names[SMFIR_SKIP] = "SMFIR_SKIP"
end

-- reply_name names a reply code as mt.getreply returns it (a number).
function reply_name(code)
	local name = reply_names[code]
	if name ~= nil then
		return name
	end
	return string.format("unexpected reply %q (%d)", string.char(math.floor(code)), math.floor(code))
end

-- stages describes each SMTP stage: the miltertest function that sends it,
-- the option that tells the MTA not to send it (no), the option that says
-- sluice does not answer it (nr), and whether the test configuration makes
-- sluice need it (the access rules look at connect, HELO, MAIL and RCPT;
-- the headers filter at the header fields).
local stages = {
	connect = { fn = mt.conninfo, no = SMFIP_NOCONNECT, nr = SMFIP_NR_CONN, needed = true },
	helo = { fn = mt.helo, no = SMFIP_NOHELO, nr = SMFIP_NR_HELO, needed = true },
	mail = { fn = mt.mailfrom, no = SMFIP_NOMAIL, nr = SMFIP_NR_MAIL, needed = true },
	rcpt = { fn = mt.rcptto, no = SMFIP_NORCPT, nr = SMFIP_NR_RCPT, needed = true },
	data = { fn = mt.data, no = SMFIP_NODATA, nr = SMFIP_NR_DATA },
	header = { fn = mt.header, no = SMFIP_NOHDRS, nr = SMFIP_NR_HDR, needed = true },
	eoh = { fn = mt.eoh, no = SMFIP_NOEOH, nr = SMFIP_NR_EOH },
	body = { fn = mt.bodystring, no = SMFIP_NOBODY, nr = SMFIP_NR_BODY },
	unknown = { fn = mt.unknown, no = SMFIP_NOUNKNOWN, nr = SMFIP_NR_UNKN },
}

-- Stages at which the configuration can refuse: sluice must answer them.
local answered = { "SMFIP_NR_CONN", "SMFIP_NR_HELO", "SMFIP_NR_MAIL", "SMFIP_NR_RCPT" }

-- The SMFIP_* options miltertest knows, for the negotiation log and checks.
local option_names = {
	"SMFIP_NOCONNECT", "SMFIP_NOHELO", "SMFIP_NOMAIL", "SMFIP_NORCPT",
	"SMFIP_NOBODY", "SMFIP_NOHDRS", "SMFIP_NOEOH", "SMFIP_NR_HDR",
	"SMFIP_NOUNKNOWN", "SMFIP_NODATA", "SMFIP_SKIP", "SMFIP_RCPT_REJ",
	"SMFIP_NR_CONN", "SMFIP_NR_HELO", "SMFIP_NR_MAIL", "SMFIP_NR_RCPT",
	"SMFIP_NR_DATA", "SMFIP_NR_UNKN", "SMFIP_NR_EOH", "SMFIP_NR_BODY",
	"SMFIP_HDR_LEADSPC", "SMFIP_MDS_256K", "SMFIP_MDS_1M",
}

-- The actions sluice must request for the test configuration, and no
-- others: add a header, delete headers (SMFIR_CHGHEADER), quarantine.
local want_actions = {
	SMFIF_ADDHDRS = true, SMFIF_CHGHDRS = true, SMFIF_QUARANTINE = true,
	SMFIF_CHGBODY = false, SMFIF_ADDRCPT = false, SMFIF_DELRCPT = false,
	SMFIF_CHGFROM = false, SMFIF_ADDRCPT_PAR = false,
}

-- check_negotiation asserts what sluice asked for at option negotiation.
local function check_negotiation(conn)
	local set = {}
	for _, name in ipairs(option_names) do
		local opt = _G[name]
		if opt ~= nil and mt.test_option(conn, opt) then
			table.insert(set, name)
			if negotiation == "full" then
				error("negotiation: sluice requested " .. name .. ", which the MTA did not offer")
			end
		end
	end
	mt.echo("negotiated options: " .. (#set > 0 and table.concat(set, " ") or "none"))
	for name, s in pairs(stages) do
		if s.needed and mt.test_option(conn, s.no) then
			error("negotiation: sluice declined the " .. name .. " stage, which its rules need")
		end
	end
	for _, name in ipairs(answered) do
		if mt.test_option(conn, _G[name]) then
			error("negotiation: sluice requested " .. name .. " for a stage it may refuse")
		end
	end
	for name, want in pairs(want_actions) do
		if _G[name] ~= nil and mt.test_action(conn, _G[name]) ~= want then
			error(string.format("negotiation: action %s is %s, want %s",
				name, tostring(not want), tostring(want)))
		end
	end
end

-- open connects to sluice and negotiates as the negotiation global says.
function open()
	-- Retry briefly: the Go test starts the script once the port accepts.
	local conn = mt.connect("inet:" .. port .. "@127.0.0.1", 20, 0.25)
	if conn == nil then
		error("mt.connect() failed")
	end
	if negotiation == "full" then
		-- Version 6, no protocol option, every action (nil = SMFI_CURR_ACTS).
		-- miltertest reads the arguments as (conn, version, protocol options,
		-- actions), whatever its manual page says about their order.
		local err = mt.negotiate(conn, 6, 0, nil)
		if err ~= nil then
			error("mt.negotiate(): " .. err)
		end
	end
	check_negotiation(conn)
	return conn
end

-- send sends one stage with the given arguments and asserts sluice's
-- reply. A stage sluice declined at negotiation is not sent (miltertest
-- refuses to); one it asked not to answer must be one expected to continue.
function send(conn, stage, want, ...)
	local s = stages[stage]
	assert(s ~= nil, "unknown stage " .. tostring(stage))
	if mt.test_option(conn, s.no) then
		mt.echo(stage .. ": not sent, sluice declined the stage")
		return
	end
	local err = s.fn(conn, ...)
	if err ~= nil then
		error(stage .. ": " .. tostring(err), 2)
	end
	if s.nr ~= nil and mt.test_option(conn, s.nr) then
		if want ~= SMFIR_CONTINUE then
			error(stage .. ": sluice negotiated no reply, want " .. reply_name(want), 2)
		end
		mt.echo(stage .. ": no reply, as negotiated")
		return
	end
	local got = mt.getreply(conn)
	if got ~= want then
		error(string.format("%s: sluice replied %s, want %s", stage, reply_name(got), reply_name(want)), 2)
	end
	mt.echo(stage .. ": " .. reply_name(got))
end

-- eom ends the message and asserts sluice's final reply.
function eom(conn, want)
	local err = mt.eom(conn)
	if err ~= nil then
		error("eom: " .. tostring(err), 2)
	end
	local got = mt.getreply(conn)
	if got ~= want then
		error(string.format("eom: sluice replied %s, want %s", reply_name(got), reply_name(want)), 2)
	end
	mt.echo("eom: " .. reply_name(got))
end

local function yesno(b)
	return b and "yes" or "no"
end

-- edit asserts that sluice did (want true) or did not (want false) ask
-- for the end-of-message action mt.eom_check(conn, ...) looks for; what
-- describes the action.
function edit(conn, want, what, ...)
	local got = mt.eom_check(conn, ...)
	if got ~= want then
		error(string.format("eom: %s: %s, want %s", what, yesno(got), yesno(want)), 2)
	end
	mt.echo("eom: " .. what .. ": " .. yesno(got))
end

-- added asserts the values of the header fields named name that sluice
-- added at end of message: exactly the values given, in any order.
function added(conn, name, ...)
	local want = { ... }
	local got = {}
	for i = 0, #want do
		local v = mt.getheader(conn, name, i)
		if v == nil then
			break
		end
		table.insert(got, v)
	end
	table.sort(got)
	table.sort(want)
	if table.concat(got, "\n") ~= table.concat(want, "\n") or #got ~= #want then
		error(string.format("eom: added %s: got {%s}, want {%s}", name,
			table.concat(got, ", "), table.concat(want, ", ")), 2)
	end
	mt.echo("eom: added " .. name .. ": " .. table.concat(got, ", "))
end

-- plain asserts that sluice made no change at end of message besides
-- adding X-Filtered-By: no deleted or inserted field, no quarantine, no
-- new body.
function plain(conn)
	added(conn, "X-Filtered-By", "sluice")
	edit(conn, false, "a header deleted or changed", MT_HDRCHANGE)
	edit(conn, false, "a header inserted", MT_HDRINSERT)
	edit(conn, false, "quarantined", MT_QUARANTINE)
	edit(conn, false, "body replaced", MT_BODYCHANGE)
end

-- scenario runs fn, the body of a script, and prints "PASS" when it
-- returns. On an error it prints "FAIL:", the message and a traceback, and
-- fails the script: miltertest exits non-zero on an error but, built with
-- Lua 5.3 as Debian's is, does not print the message itself.
function scenario(fn)
	local ok, err = xpcall(fn, debug.traceback)
	if not ok then
		mt.echo("FAIL: " .. tostring(err))
		error("scenario failed", 0)
	end
	mt.echo("PASS")
end
