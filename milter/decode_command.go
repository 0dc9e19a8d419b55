package milter

// DecodeCommand parses a packet sent by the MTA. The result is one of the
// value types Connect, Helo, Mail, Rcpt, Data, Header, EndOfHeaders, Body,
// EndOfBody, Abort, Quit, QuitNewConn, Macro, Unknown or OptNeg. It copies
// what it keeps, so it does not alias p.Data and stays valid after the next
// Reader.ReadPacket.
//
// Errors are *ProtocolError values matching ErrUnknownCommand,
// ErrMissingNUL or ErrMalformed.
func DecodeCommand(p Packet) (Command, error) {
	switch p.Code {
	case CmdData, CmdEndOfHeaders, CmdAbort, CmdQuit, CmdQuitNewConn:
		return decodeEmptyCommand(p)
	case CmdBody:
		return Body{Chunk: cloneChunk(p.Data)}, nil
	case CmdEndOfBody:
		return EndOfBody{Chunk: cloneChunk(p.Data)}, nil
	case CmdConnect:
		return decodeConnect(p)
	case CmdHelo:
		s, err := decodeOneString(p, "HELO name")
		return cmdOrErr(Helo{Name: s}, err)
	case CmdUnknown:
		s, err := decodeOneString(p, "command line")
		return cmdOrErr(Unknown{Line: s}, err)
	case CmdMail:
		args, err := decodeArgs(p, "MAIL arguments")
		return cmdOrErr(Mail{Args: args}, err)
	case CmdRcpt:
		args, err := decodeArgs(p, "RCPT arguments")
		return cmdOrErr(Rcpt{Args: args}, err)
	case CmdHeader:
		return decodeHeader(p)
	case CmdMacro:
		return decodeMacro(p)
	case CmdOptNeg:
		o, err := decodeOptNeg(p, false)
		return cmdOrErr(o, err)
	}
	return nil, protoErr(p.Code, ErrUnknownCommand, "")
}

// cmdOrErr returns c, or nil when err is set.
func cmdOrErr(c Command, err error) (Command, error) {
	if err != nil {
		return nil, err
	}
	return c, nil
}

func decodeEmptyCommand(p Packet) (Command, error) {
	if err := noData(p); err != nil {
		return nil, err
	}
	switch p.Code {
	case CmdData:
		return Data{}, nil
	case CmdEndOfHeaders:
		return EndOfHeaders{}, nil
	case CmdAbort:
		return Abort{}, nil
	case CmdQuit:
		return Quit{}, nil
	}
	return QuitNewConn{}, nil
}

// decodeOneString parses data that is exactly one NUL-terminated string.
func decodeOneString(p Packet, what string) (string, error) {
	f := newFields(p)
	s, err := f.str(what)
	if err != nil {
		return "", err
	}
	return s, f.end()
}

// decodeArgs parses one or more NUL-terminated strings.
func decodeArgs(p Packet, what string) ([]string, error) {
	f := newFields(p)
	return f.strs(what, 1)
}

func decodeConnect(p Packet) (Command, error) {
	f := newFields(p)
	var c Connect
	var err error
	if c.Hostname, err = f.str("hostname"); err != nil {
		return nil, err
	}
	if c.Family, err = f.octet("address family"); err != nil {
		return nil, err
	}
	switch c.Family {
	case FamilyUnknown:
		return cmdOrErr(c, f.end())
	case FamilyUnix, FamilyInet, FamilyInet6:
	default:
		return nil, f.malformed("unknown address family %q", rune(c.Family))
	}
	if c.Port, err = f.u16("port"); err != nil {
		return nil, err
	}
	if c.Address, err = f.str("address"); err != nil {
		return nil, err
	}
	return cmdOrErr(c, f.end())
}

func decodeHeader(p Packet) (Command, error) {
	f := newFields(p)
	name, value, err := f.header()
	if err != nil {
		return nil, err
	}
	return cmdOrErr(Header{Name: name, Value: value}, f.end())
}

func decodeMacro(p Packet) (Command, error) {
	f := newFields(p)
	stage, err := f.octet("macro stage")
	if err != nil {
		return nil, err
	}
	pairs, err := f.strs("macros", 0)
	if err != nil {
		return nil, err
	}
	if len(pairs)%2 != 0 {
		return nil, f.malformed("odd number of macro strings (%d): a name lacks its value", len(pairs))
	}
	return Macro{Stage: stage, Pairs: pairs}, nil
}
