package milter

import "bytes"

// ScanMacro checks an SMFIC_MACRO packet without allocating and returns
// its stage (the command the macros precede) and the name/value strings as
// they are on the wire: each NUL-terminated, names and values alternating.
// pairs aliases p.Data. A malformed packet gives the error DecodeCommand
// would.
func ScanMacro(p Packet) (stage byte, pairs []byte, err error) {
	if p.Code == CmdMacro && len(p.Data) >= 1 {
		pairs = p.Data[1:]
		n := bytes.Count(pairs, []byte{0})
		if n%2 == 0 && n <= MaxStrings && (len(pairs) == 0 || pairs[len(pairs)-1] == 0) {
			return p.Data[0], pairs, nil
		}
	}
	if p.Code != CmdMacro {
		return 0, nil, protoErr(p.Code, ErrMalformed, "not an SMFIC_MACRO packet")
	}
	_, err = decodeMacro(p)
	if err == nil {
		err = protoErr(p.Code, ErrMalformed, "bad macro packet")
	}
	return 0, nil, err
}

// LookupMacro finds a macro in pairs as ScanMacro returns them. Names
// match with or without braces ("{client_addr}" and "client_addr" are the
// same macro).
func LookupMacro(pairs []byte, name string) (string, bool) {
	name = unbrace(name)
	for len(pairs) > 0 {
		i := bytes.IndexByte(pairs, 0)
		if i < 0 {
			return "", false
		}
		key := pairs[:i]
		rest := pairs[i+1:]
		j := bytes.IndexByte(rest, 0)
		if j < 0 {
			return "", false
		}
		if len(key) > 2 && key[0] == '{' && key[len(key)-1] == '}' {
			key = key[1 : len(key)-1]
		}
		if string(key) == name {
			return string(rest[:j]), true
		}
		pairs = rest[j+1:]
	}
	return "", false
}

func unbrace(name string) string {
	if len(name) > 2 && name[0] == '{' && name[len(name)-1] == '}' {
		return name[1 : len(name)-1]
	}
	return name
}
