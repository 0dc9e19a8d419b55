package tls_test

import (
	"crypto/x509"
	"fmt"

	"github.com/sluice-mta/sluice/tls"
)

// A downstream whose certificate must verify: trust a self-signed
// certificate and ask for a configuration that checks it.
func ExampleClientConfig() {
	cert, err := tls.SelfSigned("mx.example.test")
	if err != nil {
		panic(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert.Leaf)
	cfg, err := tls.ClientConfig(tls.PolicyVerify, "mx.example.test", roots)
	if err != nil {
		panic(err)
	}
	fmt.Println(cfg.ServerName, cfg.InsecureSkipVerify, cfg.MinVersion == tls.MinVersion)

	none, _ := tls.ClientConfig(tls.PolicyNone, "mx.example.test", nil)
	fmt.Println(none == nil)
	// Output:
	// mx.example.test false true
	// true
}
