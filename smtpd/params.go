package smtpd

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/xclient"
)

// maxParams bounds the ESMTP parameters of one command.
const maxParams = 16

// parseParams splits ESMTP parameters (RFC 5321 §4.1.2: esmtp-keyword
// ["=" esmtp-value]) keeping their order; keywords are upper-cased,
// values kept. Values are printable ASCII without "=", or UTF-8 when the
// parameters include SMTPUTF8 (RFC 6531 §3.3). A keyword may appear once.
func parseParams(s string) ([]envelope.Param, *Error) {
	var params []envelope.Param
	utf := false
	for _, f := range strings.Split(s, " ") {
		if f == "" {
			continue
		}
		k, v, eq := strings.Cut(f, "=")
		k = strings.ToUpper(k)
		if !validKeyword(k) || (eq && v == "") {
			return nil, errorf(codeSyntaxParam, esBadArgs, "Bad parameter syntax")
		}
		if len(params) == maxParams {
			return nil, errorf(codeSyntaxParam, esBadArgs, "Too many parameters")
		}
		for _, q := range params {
			if q.Key == k {
				return nil, errorf(codeSyntaxParam, esBadArgs, "Duplicate parameter "+k)
			}
		}
		utf = utf || k == "SMTPUTF8"
		params = append(params, envelope.Param{Key: k, Value: v})
	}
	for _, p := range params {
		if !validValue(p.Value, utf) {
			return nil, errorf(codeSyntaxParam, esBadArgs, "Bad parameter syntax")
		}
	}
	return params, nil
}

// validKeyword: (ALPHA / DIGIT) *(ALPHA / DIGIT / "-").
func validKeyword(k string) bool {
	if k == "" || k[0] == '-' {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validValue: 1*(%d33-60 / %d62-126), or UTF-8 when utf is set. An empty
// value stands for a keyword without one.
func validValue(v string, utf bool) bool {
	if utf && !utf8.ValidString(v) {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '!' || c == '=' || c == 0x7f || (c >= 0x80 && !utf) {
			return false
		}
	}
	return true
}

// mailInfo is what MAIL's parameters say about the transaction.
type mailInfo struct {
	size     int64 // declared SIZE, 0 when not given
	smtputf8 bool
}

// nullAuthor is the AUTH parameter of a message whose author is unknown
// (RFC 4954 §5).
const nullAuthor = "<>"

// maxAuthParam bounds the AUTH parameter: RFC 4954 §5 lets it add 500
// characters to the MAIL command line.
const maxAuthParam = 500

// checkMailParams checks MAIL's parameters: SIZE (RFC 1870), BODY
// (RFC 6152), SMTPUTF8 (RFC 6531), RET and ENVID (RFC 3461 §4.3, §4.4)
// and AUTH (RFC 4954 §5). Others get 555.
func checkMailParams(params []envelope.Param, maxSize int64) (mailInfo, *Error) {
	var mi mailInfo
	bad := func(what string) (mailInfo, *Error) {
		return mailInfo{}, errorf(codeSyntaxParam, esBadArgs, "Bad "+what+" parameter")
	}
	for _, p := range params {
		switch p.Key {
		case "SIZE":
			n, err := strconv.ParseInt(p.Value, 10, 64)
			if err != nil || n < 0 || p.Value[0] == '+' {
				return bad("SIZE")
			}
			if n > maxSize {
				return mailInfo{}, errorf(codeTooBig, esTooBig, "Message size exceeds fixed maximum message size")
			}
			mi.size = n
		case "BODY":
			if v := strings.ToUpper(p.Value); v != "7BIT" && v != "8BITMIME" {
				return bad("BODY")
			}
		case "SMTPUTF8":
			if p.Value != "" {
				return bad("SMTPUTF8")
			}
			mi.smtputf8 = true
		case "RET":
			if v := strings.ToUpper(p.Value); v != "FULL" && v != "HDRS" {
				return bad("RET")
			}
		case "ENVID":
			if !validXtext(p.Value, 100) {
				return bad("ENVID")
			}
		case "AUTH":
			if _, ok := parseAuthor(p.Value); !ok {
				return bad("AUTH")
			}
		default:
			return mailInfo{}, errorf(codeBadParams, esBadArgs, "Unsupported parameter "+p.Key)
		}
	}
	return mi, nil
}

// parseAuthor decodes an AUTH parameter (RFC 4954 §5): xtext standing
// for an addr-spec, or "<>". It reports false for anything else.
func parseAuthor(v string) (string, bool) {
	if len(v) > maxAuthParam {
		return "", false
	}
	a, err := xclient.DecodeXtext(v)
	switch {
	case err != nil || a == "":
		return "", false
	case a == nullAuthor:
		return a, true
	}
	if envelope.Domain(a) == "" || !validMailbox(a) || len(xclient.EncodeXtext(a)) > maxAuthParam {
		return "", false // the last: what is passed on is encoded anew
	}
	return a, true
}

// checkRcptParams checks RCPT's parameters: NOTIFY and ORCPT (RFC 3461
// §4.1, §4.2). Others get 555.
func checkRcptParams(params []envelope.Param) *Error {
	for _, p := range params {
		switch p.Key {
		case "NOTIFY":
			if !validNotify(p.Value) {
				return errorf(codeSyntaxParam, esBadArgs, "Bad NOTIFY parameter")
			}
		case "ORCPT":
			typ, addr, ok := strings.Cut(p.Value, ";")
			if !ok || !validKeyword(strings.ToUpper(typ)) || addr == "" || len(p.Value) > 500 ||
				(strings.EqualFold(typ, "rfc822") && !validXtext(addr, 500)) {
				return errorf(codeSyntaxParam, esBadArgs, "Bad ORCPT parameter")
			}
		default:
			return errorf(codeBadParams, esBadArgs, "Unsupported parameter "+p.Key)
		}
	}
	return nil
}

// validNotify: NEVER, or a list of SUCCESS, FAILURE and DELAY.
func validNotify(v string) bool {
	if strings.EqualFold(v, "NEVER") {
		return true
	}
	seen := map[string]bool{}
	for _, w := range strings.Split(strings.ToUpper(v), ",") {
		if (w != "SUCCESS" && w != "FAILURE" && w != "DELAY") || seen[w] {
			return false
		}
		seen[w] = true
	}
	return true
}

func validXtext(v string, max int) bool {
	if v == "" || len(v) > max {
		return false
	}
	_, err := xclient.DecodeXtext(v)
	return err == nil
}
