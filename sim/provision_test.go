package sim

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twinops/twinops/hub"
	"github.com/twinops/twinops/twinclient"
)

// Provisioning through the service protocol: a second run finds the devices, returns the
// same connection strings and keeps an operator's re-tagging.
func TestProvisionThroughServiceKeepsExisting(t *testing.T) {
	simLeakCheck(t)
	s := startSimHub(t)
	cs, err := s.h.ServiceConnectionString("iothubowner")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	svc, err := twinclient.DialService(ctx, twinclient.ServiceOptions{URL: s.dial.URL, ConnectionString: cs, CAFile: s.dial.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	o := Options{Count: 5, Seed: 3, Prefix: "svc-"}
	first, err := Provision(ctx, ServiceRegistry(svc), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 5 {
		t.Fatalf("%d connection strings, want 5", len(first))
	}
	for _, id := range o.DeviceIDs() {
		tw, err := s.h.GetTwin(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(tw.Tags, o.Profile(id).Tags()) {
			t.Fatalf("%s tags %v, want %v", id, tw.Tags, o.Profile(id).Tags())
		}
		if !reflect.DeepEqual(tw.Desired.Values, o.Profile(id).Desired()) {
			t.Fatalf("%s desired %v, want %v", id, tw.Desired.Values, o.Profile(id).Desired())
		}
	}
	retag := map[string]any{"ring": "canary"}
	if _, err := s.h.PatchTwin(ctx, "svc-0002", hub.TwinPatch{Tags: retag, HasTags: true}, "*"); err != nil {
		t.Fatal(err)
	}
	second, err := Provision(ctx, ServiceRegistry(svc), o)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(first, second) {
		t.Fatalf("second provisioning returned other connection strings")
	}
	tw, err := s.h.GetTwin(ctx, "svc-0002")
	if err != nil {
		t.Fatal(err)
	}
	if tw.Tags["ring"] != "canary" {
		t.Fatalf("the operator's re-tagging was overwritten: %v", tw.Tags)
	}
}

func TestProvisionStopsAtFirstError(t *testing.T) {
	simLeakCheck(t)
	s := startSimHub(t)
	// Device ids with a space are refused by the hub; provisioning must say which.
	_, err := Provision(context.Background(), hubRegistry{s.h}, Options{Count: 3, Prefix: "bad id "})
	if err == nil {
		t.Fatal("provisioning invalid ids succeeded")
	}
	if !strings.HasPrefix(err.Error(), "sim: provisioning bad id 000") {
		t.Fatalf("error %q does not name the device", err)
	}
}
