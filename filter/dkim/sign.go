package dkim

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/sluice-mta/sluice/filter"
)

// signingKeys returns the keys that sign the current message: none
// unless its client is trusted and it has one From field whose domain
// has keys.
func (s *session) signingKeys() []signingKey {
	if !s.trusted || len(s.from) != 1 {
		return nil
	}
	return s.f.keys[fromDomain(s.from[0])]
}

// sign adds a DKIM-Signature field per key at the top of the header
// section. A failure is the filter's: the message is tempfailed rather
// than sent unsigned.
func (s *session) sign(ctx context.Context, m *filter.Modifier, keys []signingKey, log *slog.Logger) filter.Verdict {
	hk := s.headerKeys()
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			log.Error("dkim: signing", "err", err)
			return filter.CustomReply(451, "4.3.0", "DKIM signing failed, try again later")
		}
		value, err := s.signature(k, hk)
		if err == nil {
			err = m.InsertHeader(0, "DKIM-Signature", value)
		}
		if err != nil {
			log.Error("dkim: signing", "domain", k.domain, "selector", k.selector, "err", err)
			return filter.CustomReply(451, "4.3.0", "DKIM signing failed, try again later")
		}
		log.Info("dkim: signed", "domain", k.domain, "selector", k.selector, "spilled", s.buf.spilled())
	}
	return filter.Continue
}

// signature computes one DKIM-Signature value (with its leading space)
// over the message kept.
func (s *session) signature(k signingKey, headerKeys []string) (string, error) {
	signer, err := dkim.NewSigner(&dkim.SignOptions{
		Domain:                 k.domain,
		Selector:               k.selector,
		Signer:                 k.signer,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             headerKeys,
	})
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(signer, s.buf.reader()); err != nil {
		signer.Close()
		return "", err
	}
	if err := signer.Close(); err != nil {
		return "", err
	}
	sig := strings.TrimSuffix(signer.Signature(), "\r\n")
	name, value, ok := strings.Cut(sig, ":")
	if !ok || !strings.EqualFold(name, "DKIM-Signature") {
		return "", fmt.Errorf("unexpected signature field %q", sig)
	}
	return value, nil
}

// headerKeys lists the fields to sign: each field of SignHeaders as many
// times as the message has it, and From once more, so that a From added
// later breaks the signature (RFC 6376 §8.15).
func (s *session) headerKeys() []string {
	var out []string
	for _, name := range s.f.signHeaders {
		n := s.names[strings.ToLower(name)]
		if strings.EqualFold(name, "From") {
			n++
		}
		for range n {
			out = append(out, name)
		}
	}
	return out
}
