package sas

import (
	"testing"
	"time"
)

func FuzzParseToken(f *testing.F) {
	for _, v := range nodeVectors {
		f.Add(v.token)
	}
	f.Add("SharedAccessSignature sr=a%2&sig=x&se=1")
	f.Add("SharedAccessSignature se=1&sr=a&sig=%%&skn=")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err != nil {
			return
		}
		if tok.RawResource == "" || tok.Signature == "" || tok.Expiry.Unix() <= 0 {
			t.Fatalf("accepted token with missing parts: %+v", tok)
		}
		// Verify must never panic and never accept with another key.
		if tok.Verify("b3RoZXIga2V5", tok.Expiry.Add(-time.Second)) == nil {
			t.Fatalf("verified %q with an unrelated key", s)
		}
		// A token signed for the decoded resource parses back to the same resource.
		re, err := NewToken(tok.Resource, nodeKey, tok.Policy, tok.Expiry)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseToken(re)
		if err != nil {
			t.Fatalf("re-signed token %q does not parse: %v", re, err)
		}
		if back.Resource != tok.Resource || back.Policy != tok.Policy || !back.Expiry.Equal(tok.Expiry) {
			t.Fatalf("round trip %+v -> %+v", tok, back)
		}
		if err := back.Verify(nodeKey, tok.Expiry.Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzParseConnectionString(f *testing.F) {
	f.Add("HostName=localhost;DeviceId=dev1;SharedAccessKey=" + nodeKey)
	f.Add("HostName=h;SharedAccessKeyName=p;SharedAccessKey=YWJj;GatewayHostName=g")
	f.Add(";;hostname = h ;deviceid=d=e;sharedaccesskey=YWJj;")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseConnectionString(s)
		if err != nil {
			return
		}
		back, err := ParseConnectionString(c.String())
		if err != nil {
			t.Fatalf("String() %q does not parse: %v", c.String(), err)
		}
		if back != c {
			t.Fatalf("round trip %+v -> %+v", c, back)
		}
	})
}
