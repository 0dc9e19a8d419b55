package tls

import (
	cryptotls "crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// Policy is a client's STARTTLS policy toward one peer. The zero value is
// not a policy; configuration names it explicitly.
type Policy string

// The client policies.
const (
	PolicyNone          Policy = "none"          // never start TLS
	PolicyOpportunistic Policy = "opportunistic" // start TLS when offered, do not verify, fall back to plaintext
	PolicyRequired      Policy = "required"      // TLS or no delivery; the certificate is not verified
	PolicyVerify        Policy = "verify"        // TLS or no delivery; chain and name verified
)

// MinVersion is the oldest protocol version any configuration accepts.
const MinVersion = cryptotls.VersionTLS12

// ParsePolicy returns the policy named s, or an error naming the valid
// ones.
func ParsePolicy(s string) (Policy, error) {
	switch p := Policy(s); p {
	case PolicyNone, PolicyOpportunistic, PolicyRequired, PolicyVerify:
		return p, nil
	}
	return "", fmt.Errorf("tls: unknown policy %q (want none, opportunistic, required or verify)", s)
}

// Mandatory reports whether the policy forbids delivery without TLS.
func (p Policy) Mandatory() bool {
	return p == PolicyRequired || p == PolicyVerify
}

// ClientConfig returns the configuration a client uses for STARTTLS under
// policy toward serverName: nil for PolicyNone. PolicyVerify needs a
// server name and checks the chain against roots (nil: the system roots);
// the other policies skip verification, since a check nobody enforces
// only stops mail that would otherwise go out in plaintext.
func ClientConfig(policy Policy, serverName string, roots *x509.CertPool) (*cryptotls.Config, error) {
	cfg := &cryptotls.Config{MinVersion: MinVersion, ServerName: serverName}
	switch policy {
	case PolicyNone:
		return nil, nil
	case PolicyOpportunistic, PolicyRequired:
		cfg.InsecureSkipVerify = true // encryption without authentication, by policy
	case PolicyVerify:
		if serverName == "" {
			return nil, errors.New("tls: policy verify needs the server name to check the certificate against")
		}
		cfg.RootCAs = roots
	default:
		return nil, fmt.Errorf("tls: unknown policy %q", string(policy))
	}
	return cfg, nil
}
