package milter

import "testing"

// TestConstantsMatchLibmilter pins every constant to the value in
// libmilter's mfdef.h / mfapi.h (Sendmail 8.17), written out literally.
func TestConstantsMatchLibmilter(t *testing.T) {
	codes := map[string][2]byte{
		"SMFIC_ABORT": {CmdAbort, 'A'}, "SMFIC_BODY": {CmdBody, 'B'}, "SMFIC_CONNECT": {CmdConnect, 'C'},
		"SMFIC_MACRO": {CmdMacro, 'D'}, "SMFIC_BODYEOB": {CmdEndOfBody, 'E'}, "SMFIC_HELO": {CmdHelo, 'H'},
		"SMFIC_QUIT_NC": {CmdQuitNewConn, 'K'}, "SMFIC_HEADER": {CmdHeader, 'L'}, "SMFIC_MAIL": {CmdMail, 'M'},
		"SMFIC_EOH": {CmdEndOfHeaders, 'N'}, "SMFIC_OPTNEG": {CmdOptNeg, 'O'}, "SMFIC_QUIT": {CmdQuit, 'Q'},
		"SMFIC_RCPT": {CmdRcpt, 'R'}, "SMFIC_DATA": {CmdData, 'T'}, "SMFIC_UNKNOWN": {CmdUnknown, 'U'},
		"SMFIR_ADDRCPT": {RespAddRcpt, '+'}, "SMFIR_DELRCPT": {RespDelRcpt, '-'},
		"SMFIR_ADDRCPT_PAR": {RespAddRcptPar, '2'}, "SMFIR_SHUTDOWN": {RespShutdown, '4'},
		"SMFIR_ACCEPT": {RespAccept, 'a'}, "SMFIR_REPLBODY": {RespReplaceBody, 'b'},
		"SMFIR_CONTINUE": {RespContinue, 'c'}, "SMFIR_DISCARD": {RespDiscard, 'd'},
		"SMFIR_CHGFROM": {RespChangeFrom, 'e'}, "SMFIR_CONN_FAIL": {RespConnFail, 'f'},
		"SMFIR_ADDHEADER": {RespAddHeader, 'h'}, "SMFIR_INSHEADER": {RespInsertHeader, 'i'},
		"SMFIR_SETSYMLIST": {RespSetSymList, 'l'}, "SMFIR_CHGHEADER": {RespChangeHeader, 'm'},
		"SMFIR_PROGRESS": {RespProgress, 'p'}, "SMFIR_QUARANTINE": {RespQuarantine, 'q'},
		"SMFIR_REJECT": {RespReject, 'r'}, "SMFIR_SKIP": {RespSkip, 's'},
		"SMFIR_TEMPFAIL": {RespTempFail, 't'}, "SMFIR_REPLYCODE": {RespReplyCode, 'y'},
		"SMFIA_UNKNOWN": {FamilyUnknown, 'U'}, "SMFIA_UNIX": {FamilyUnix, 'L'},
		"SMFIA_INET": {FamilyInet, '4'}, "SMFIA_INET6": {FamilyInet6, '6'},
	}
	for name, v := range codes {
		if v[0] != v[1] {
			t.Errorf("%s = %q, libmilter has %q", name, v[0], v[1])
		}
	}
	flags := map[string][2]uint32{
		"SMFIF_ADDHDRS": {uint32(ActAddHeader), 0x1}, "SMFIF_CHGBODY": {uint32(ActChangeBody), 0x2},
		"SMFIF_ADDRCPT": {uint32(ActAddRcpt), 0x4}, "SMFIF_DELRCPT": {uint32(ActDelRcpt), 0x8},
		"SMFIF_CHGHDRS": {uint32(ActChangeHeader), 0x10}, "SMFIF_QUARANTINE": {uint32(ActQuarantine), 0x20},
		"SMFIF_CHGFROM": {uint32(ActChangeFrom), 0x40}, "SMFIF_ADDRCPT_PAR": {uint32(ActAddRcptPar), 0x80},
		"SMFIF_SETSYMLIST": {uint32(ActSetSymList), 0x100}, "SMFI_CURR_ACTS": {uint32(ActAll), 0x1FF},
		"SMFI_V1_ACTS": {uint32(ActV1), 0xF}, "SMFI_V2_ACTS": {uint32(ActV2), 0x3F},
		"SMFIP_NOCONNECT": {uint32(ProtoNoConnect), 0x1}, "SMFIP_NOHELO": {uint32(ProtoNoHelo), 0x2},
		"SMFIP_NOMAIL": {uint32(ProtoNoMail), 0x4}, "SMFIP_NORCPT": {uint32(ProtoNoRcpt), 0x8},
		"SMFIP_NOBODY": {uint32(ProtoNoBody), 0x10}, "SMFIP_NOHDRS": {uint32(ProtoNoHeaders), 0x20},
		"SMFIP_NOEOH": {uint32(ProtoNoEOH), 0x40}, "SMFIP_NR_HDR": {uint32(ProtoNRHeader), 0x80},
		"SMFIP_NOUNKNOWN": {uint32(ProtoNoUnknown), 0x100}, "SMFIP_NODATA": {uint32(ProtoNoData), 0x200},
		"SMFIP_SKIP": {uint32(ProtoSkip), 0x400}, "SMFIP_RCPT_REJ": {uint32(ProtoRcptRej), 0x800},
		"SMFIP_NR_CONN": {uint32(ProtoNRConnect), 0x1000}, "SMFIP_NR_HELO": {uint32(ProtoNRHelo), 0x2000},
		"SMFIP_NR_MAIL": {uint32(ProtoNRMail), 0x4000}, "SMFIP_NR_RCPT": {uint32(ProtoNRRcpt), 0x8000},
		"SMFIP_NR_DATA": {uint32(ProtoNRData), 0x10000}, "SMFIP_NR_UNKN": {uint32(ProtoNRUnknown), 0x20000},
		"SMFIP_NR_EOH": {uint32(ProtoNREOH), 0x40000}, "SMFIP_NR_BODY": {uint32(ProtoNRBody), 0x80000},
		"SMFIP_HDR_LEADSPC": {uint32(ProtoHdrLeadSpace), 0x100000},
		"SMFIP_MDS_256K":    {uint32(ProtoMDS256K), 0x10000000}, "SMFIP_MDS_1M": {uint32(ProtoMDS1M), 0x20000000},
		"SMFI_CURR_PROT": {uint32(ProtoAll), 0x1FFFFF}, "SMFI_V1_PROT": {uint32(ProtoV1), 0x3F},
		"SMFI_V2_PROT":       {uint32(ProtoV2), 0x7F},
		"SMFIP_NOSEND_MASK":  {uint32(ProtoNoSendMask), 0x37F},
		"SMFIP_NOREPLY_MASK": {uint32(ProtoNoReplyMask), 0xFF080},
		"SMFIM_CONNECT":      {MacroConnect, 0}, "SMFIM_HELO": {MacroHelo, 1}, "SMFIM_ENVFROM": {MacroMail, 2},
		"SMFIM_ENVRCPT": {MacroRcpt, 3}, "SMFIM_DATA": {MacroData, 4}, "SMFIM_EOM": {MacroEOM, 5},
		"SMFIM_EOH":         {MacroEOH, 6},
		"SMFI_PROT_VERSION": {ProtocolVersion, 6}, "MILTER_CHUNK_SIZE": {ChunkSize, 65535},
		"MILTER_MDS_256K": {ChunkSize256K, 256*1024 - 1}, "MILTER_MDS_1M": {ChunkSize1M, 1024*1024 - 1},
	}
	for name, v := range flags {
		if v[0] != v[1] {
			t.Errorf("%s = %#x, libmilter has %#x", name, v[0], v[1])
		}
	}
}

func TestFlagStrings(t *testing.T) {
	tests := []struct{ got, want string }{
		{ActionFlags(0).String(), "0"},
		{(ActAddHeader | ActChangeHeader).String(), "ADDHDRS|CHGHDRS"},
		{ActAll.String(), "ADDHDRS|CHGBODY|ADDRCPT|DELRCPT|CHGHDRS|QUARANTINE|CHGFROM|ADDRCPT_PAR|SETSYMLIST"},
		{(ActQuarantine | 0x400 | 0x80000000).String(), "QUARANTINE|0x80000400"},
		{ProtoFlags(0).String(), "0"},
		{(ProtoNoHelo | ProtoNRHeader | ProtoSkip).String(), "NOHELO|NR_HDR|SKIP"},
		{(ProtoMDS1M | ProtoHdrLeadSpace | 0x40000000).String(), "HDR_LEADSPC|MDS_1M|0x40000000"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestReplyExpectedAndSkips(t *testing.T) {
	tests := []struct {
		p            ProtoFlags
		cmd          byte
		reply, skips bool
	}{
		{0, CmdConnect, true, false},
		{ProtoNRConnect, CmdConnect, false, false},
		{ProtoNoConnect, CmdConnect, true, true},
		{ProtoNRHeader, CmdHeader, false, false},
		{ProtoNRHeader, CmdEndOfHeaders, true, false},
		{ProtoNREOH | ProtoNoEOH, CmdEndOfHeaders, false, true},
		{ProtoNRBody, CmdBody, false, false},
		{ProtoNoBody, CmdBody, true, true},
		{ProtoNRData | ProtoNoData, CmdData, false, true},
		{ProtoNRUnknown | ProtoNoUnknown, CmdUnknown, false, true},
		{ProtoNRMail | ProtoNoMail, CmdMail, false, true},
		{ProtoNRRcpt | ProtoNoRcpt, CmdRcpt, false, true},
		{ProtoNRHelo | ProtoNoHelo, CmdHelo, false, true},
		{ProtoNoReplyMask | ProtoNoSendMask, CmdEndOfBody, true, false},
		{ProtoNoReplyMask | ProtoNoSendMask, CmdOptNeg, true, false},
		{0, CmdMacro, false, false},
		{0, CmdAbort, false, false},
		{0, CmdQuit, false, false},
		{0, CmdQuitNewConn, false, false},
		{0, 'z', false, false},
	}
	for _, tt := range tests {
		if got := tt.p.ReplyExpected(tt.cmd); got != tt.reply {
			t.Errorf("(%v).ReplyExpected(%c) = %v", tt.p, tt.cmd, got)
		}
		if got := tt.p.Skips(tt.cmd); got != tt.skips {
			t.Errorf("(%v).Skips(%c) = %v", tt.p, tt.cmd, got)
		}
	}
}

func TestRequiredAction(t *testing.T) {
	want := map[byte]ActionFlags{
		RespAddHeader: ActAddHeader, RespInsertHeader: ActAddHeader, RespChangeHeader: ActChangeHeader,
		RespReplaceBody: ActChangeBody, RespAddRcpt: ActAddRcpt, RespAddRcptPar: ActAddRcptPar,
		RespDelRcpt: ActDelRcpt, RespChangeFrom: ActChangeFrom, RespQuarantine: ActQuarantine,
		RespSetSymList: ActSetSymList,
		RespContinue:   0, RespAccept: 0, RespReject: 0, RespTempFail: 0, RespReplyCode: 0,
		RespProgress: 0, RespSkip: 0, RespDiscard: 0,
	}
	for code, w := range want {
		if got := RequiredAction(code); got != w {
			t.Errorf("RequiredAction(%s) = %v, want %v", ResponseName(code), got, w)
		}
	}
}

func TestMacroStages(t *testing.T) {
	want := map[byte]int{
		CmdConnect: MacroConnect, CmdHelo: MacroHelo, CmdMail: MacroMail, CmdRcpt: MacroRcpt,
		CmdData: MacroData, CmdEndOfBody: MacroEOM, CmdEndOfHeaders: MacroEOH,
	}
	for cmd, stage := range want {
		got, ok := MacroStageFor(cmd)
		if !ok || got != stage {
			t.Errorf("MacroStageFor(%c) = %d, %v; want %d", cmd, got, ok, stage)
		}
		back, ok := CommandForMacroStage(stage)
		if !ok || back != cmd {
			t.Errorf("CommandForMacroStage(%d) = %c, %v; want %c", stage, back, ok, cmd)
		}
	}
	if _, ok := MacroStageFor(CmdHeader); ok {
		t.Error("MacroStageFor(SMFIC_HEADER) reported a stage")
	}
	for _, s := range []int{-1, 7} {
		if _, ok := CommandForMacroStage(s); ok {
			t.Errorf("CommandForMacroStage(%d) reported a command", s)
		}
	}
}

func TestNames(t *testing.T) {
	tests := []struct{ got, want string }{
		{CommandName(CmdConnect), "SMFIC_CONNECT"},
		{CommandName(CmdQuitNewConn), "SMFIC_QUIT_NC"},
		{CommandName('z'), "code 'z' (0x7a)"},
		{ResponseName(RespReplyCode), "SMFIR_REPLYCODE"},
		{ResponseName(CmdOptNeg), "SMFIC_OPTNEG"},
		{ResponseName(0), `code '\x00' (0x00)`},
		{Packet{Code: CmdHelo, Data: []byte("mx\x00")}.String(), "SMFIC_HELO len=3"},
		{Packet{Code: RespContinue}.String(), "SMFIR_CONTINUE len=0"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	if !IsCommand(CmdHelo) || IsCommand(RespContinue) || !IsResponse(RespContinue) || !IsResponse(CmdOptNeg) || IsResponse(CmdHelo) {
		t.Error("IsCommand/IsResponse disagree with the code tables")
	}
}
