package milter

// DecodeResponse parses a packet sent by the filter. The result is one of
// the value types Continue, Accept, Reject, TempFail, Discard, Skip,
// ConnFail, Shutdown, Progress, ReplyCode, AddHeader, InsertHeader,
// ChangeHeader, AddRcpt, AddRcptPar, DelRcpt, ChangeFrom, ReplaceBody,
// Quarantine, SetSymList or OptNeg. It copies what it keeps, so it does not
// alias p.Data.
//
// A ReplyCode text is checked with ValidateReplyText. Errors are
// *ProtocolError values matching ErrUnknownReply, ErrMissingNUL or
// ErrMalformed.
func DecodeResponse(p Packet) (Response, error) {
	if r, ok := emptyResponses[p.Code]; ok {
		if err := noData(p); err != nil {
			return nil, err
		}
		return r, nil
	}
	switch p.Code {
	case RespReplyCode:
		return decodeReplyCode(p)
	case RespAddHeader:
		return decodeAddHeader(p)
	case RespInsertHeader, RespChangeHeader:
		return decodeIndexHeader(p)
	case RespAddRcpt, RespDelRcpt, RespQuarantine:
		return decodeStringResponse(p)
	case RespAddRcptPar, RespChangeFrom:
		return decodeOptArgs(p)
	case RespReplaceBody:
		return ReplaceBody{Chunk: cloneChunk(p.Data)}, nil
	case RespSetSymList:
		f := newFields(p)
		s, err := f.symList()
		if err == nil {
			err = f.end()
		}
		return respOrErr(s, err)
	case CmdOptNeg:
		o, err := decodeOptNeg(p, true)
		return respOrErr(o, err)
	}
	return nil, protoErr(p.Code, ErrUnknownReply, "")
}

var emptyResponses = map[byte]Response{
	RespContinue: Continue{},
	RespAccept:   Accept{},
	RespReject:   Reject{},
	RespTempFail: TempFail{},
	RespDiscard:  Discard{},
	RespSkip:     Skip{},
	RespConnFail: ConnFail{},
	RespShutdown: Shutdown{},
	RespProgress: Progress{},
}

// respOrErr returns r, or nil when err is set.
func respOrErr(r Response, err error) (Response, error) {
	if err != nil {
		return nil, err
	}
	return r, nil
}

func decodeReplyCode(p Packet) (Response, error) {
	s, err := decodeOneString(p, "reply text")
	if err != nil {
		return nil, err
	}
	if err := ValidateReplyText(s); err != nil {
		return nil, protoErr(p.Code, ErrMalformed, err.Error())
	}
	return ReplyCode{Text: s}, nil
}

func decodeAddHeader(p Packet) (Response, error) {
	f := newFields(p)
	name, value, err := f.header()
	if err != nil {
		return nil, err
	}
	return respOrErr(AddHeader{Name: name, Value: value}, f.end())
}

func decodeIndexHeader(p Packet) (Response, error) {
	f := newFields(p)
	index, err := f.u32("header index")
	if err != nil {
		return nil, err
	}
	name, value, err := f.header()
	if err != nil {
		return nil, err
	}
	if err := f.end(); err != nil {
		return nil, err
	}
	if p.Code == RespInsertHeader {
		return InsertHeader{Index: index, Name: name, Value: value}, nil
	}
	return ChangeHeader{Index: index, Name: name, Value: value}, nil
}

func decodeStringResponse(p Packet) (Response, error) {
	what := "recipient"
	if p.Code == RespQuarantine {
		what = "reason"
	}
	s, err := decodeOneString(p, what)
	if err != nil {
		return nil, err
	}
	switch p.Code {
	case RespAddRcpt:
		return AddRcpt{Rcpt: s}, nil
	case RespDelRcpt:
		return DelRcpt{Rcpt: s}, nil
	}
	return Quarantine{Reason: s}, nil
}

func decodeOptArgs(p Packet) (Response, error) {
	f := newFields(p)
	addr, err := f.str("address")
	if err != nil {
		return nil, err
	}
	args, err := f.optStr("ESMTP arguments")
	if err != nil {
		return nil, err
	}
	if err := f.end(); err != nil {
		return nil, err
	}
	if p.Code == RespChangeFrom {
		return ChangeFrom{From: addr, Args: args}, nil
	}
	return AddRcptPar{Rcpt: addr, Args: args}, nil
}

// symList takes a uint32 stage and a NUL-terminated macro list.
func (f *fields) symList() (SetSymList, error) {
	stage, err := f.u32("macro stage")
	if err != nil {
		return SetSymList{}, err
	}
	macros, err := f.str("macro list")
	if err != nil {
		return SetSymList{}, err
	}
	return SetSymList{Stage: stage, Macros: macros}, nil
}
