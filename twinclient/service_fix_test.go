package twinclient

import (
	"context"
	"strings"
	"testing"
	"time"
)

// A wrong key is refused as not authorized (paho must not fall back to MQTT 3.1 and
// report "unacceptable protocol version"), with a hint about the key and policy.
func TestServiceWrongKeySaysNotAuthorized(t *testing.T) {
	sh := startSvcHub(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	owner, err := sh.h.ServiceConnectionString("iothubowner")
	if err != nil {
		t.Fatal(err)
	}
	wrongKey := owner[:len(owner)-8] + "AAAAAAA="
	s, err := DialService(ctx, ServiceOptions{URL: sh.url, ConnectionString: wrongKey})
	if err == nil {
		s.Close()
		t.Fatal("connected with a wrong key")
	}
	msg := err.Error()
	if strings.Contains(msg, "protocol version") || !strings.Contains(msg, "not authorized: check the connection string's key and policy") {
		t.Fatalf("wrong key: %v", err)
	}
}
