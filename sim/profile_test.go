package sim

import (
	"strings"
	"testing"

	"github.com/twinops/twinops/twinclient"
)

func TestProfilesDeterministicAndMixed(t *testing.T) {
	o := Options{Count: 200, Seed: 42, FlakyRate: 0.05}
	ids := o.DeviceIDs()
	if ids[0] != "sim-0001" || ids[199] != "sim-0200" || len(ids) != 200 {
		t.Fatalf("ids %s..%s (%d)", ids[0], ids[len(ids)-1], len(ids))
	}
	seen := map[string]map[string]int{"region": {}, "ring": {}, "model": {}, "firmware": {}}
	flaky := 0
	for _, id := range ids {
		p := o.Profile(id)
		if p != o.Profile(id) {
			t.Fatalf("profile of %s not deterministic", id)
		}
		seen["region"][p.Region]++
		seen["ring"][p.Ring]++
		seen["model"][p.Model]++
		seen["firmware"][p.Firmware]++
		if p.Battery < 30 || p.Battery > 100 {
			t.Fatalf("%s battery %d outside 30..100", id, p.Battery)
		}
		if p.Flaky {
			flaky++
		}
	}
	for k, want := range map[string]int{"region": 5, "ring": 3, "model": 3, "firmware": 4} {
		if len(seen[k]) != want {
			t.Errorf("%s values %v, want all %d represented", k, seen[k], want)
		}
	}
	if flaky == 0 || flaky > 30 {
		t.Errorf("%d flaky devices of 200 at rate 0.05", flaky)
	}
	other := Options{Count: 200, Seed: 43, FlakyRate: 0.05}
	differ := 0
	for _, id := range ids {
		if o.Profile(id) != other.Profile(id) {
			differ++
		}
	}
	if differ < 100 {
		t.Errorf("only %d of 200 profiles change with the seed", differ)
	}
}

func TestDeviceIDsWidth(t *testing.T) {
	tests := map[string]struct {
		o          Options
		first, end string
	}{
		"default prefix":  {o: Options{Count: 3}, first: "sim-0001", end: "sim-0003"},
		"custom prefix":   {o: Options{Count: 2, Prefix: "pump-"}, first: "pump-0001", end: "pump-0002"},
		"five digits":     {o: Options{Count: 12000}, first: "sim-00001", end: "sim-12000"},
		"exactly 4 wide ": {o: Options{Count: 9999}, first: "sim-0001", end: "sim-9999"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ids := tc.o.DeviceIDs()
			if ids[0] != tc.first || ids[len(ids)-1] != tc.end {
				t.Fatalf("ids %s..%s, want %s..%s", ids[0], ids[len(ids)-1], tc.first, tc.end)
			}
		})
	}
}

func TestFirmwareFailure(t *testing.T) {
	never := Options{Seed: 1, FailureRate: 0}
	always := Options{Seed: 1, FailureRate: 1}
	half := Options{Seed: 1, FailureRate: 0.5}
	fails, stages := 0, map[string]int{}
	for _, id := range (Options{Count: 1000}).DeviceIDs() {
		if never.FirmwareFailure(id, "2.0.0", 1) != "" {
			t.Fatalf("%s fails at rate 0", id)
		}
		if st := always.FirmwareFailure(id, "2.0.0", 1); st != stageDownloading && st != stageInstalling {
			t.Fatalf("%s at rate 1: stage %q", id, st)
		}
		st := half.FirmwareFailure(id, "2.0.0", 1)
		if st != half.FirmwareFailure(id, "2.0.0", 1) {
			t.Fatalf("%s: failure not deterministic", id)
		}
		if st != "" {
			fails++
			stages[st]++
		}
	}
	if fails < 400 || fails > 600 {
		t.Errorf("%d of 1000 fail at rate 0.5", fails)
	}
	if stages[stageDownloading] == 0 || stages[stageInstalling] == 0 {
		t.Errorf("failure stages %v, want both", stages)
	}
}

func TestOptionsRejected(t *testing.T) {
	tests := map[string]struct {
		o       Options
		wantErr string
	}{
		"negative count":    {o: Options{Count: -1}, wantErr: "negative"},
		"failure rate > 1":  {o: Options{FailureRate: 1.5}, wantErr: "failure rate"},
		"flaky rate < 0":    {o: Options{FlakyRate: -0.1}, wantErr: "flaky rate"},
		"negative speed":    {o: Options{Speed: -2}, wantErr: "speed"},
		"bad conn string":   {o: Options{}, wantErr: "connection string 1"},
		"service conn":      {o: Options{}, wantErr: "no DeviceId"},
		"duplicate devices": {o: Options{}, wantErr: "appears twice"},
	}
	conns := map[string][]string{
		"bad conn string":   {"nonsense"},
		"service conn":      {"HostName=h;SharedAccessKeyName=s;SharedAccessKey=c2VjcmV0"},
		"duplicate devices": {"HostName=h;DeviceId=a;SharedAccessKey=c2VjcmV0", "HostName=h;DeviceId=a;SharedAccessKey=c2VjcmV0"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f, err := Run(t.Context(), tc.o, conns[name], defaultDial())
			if err == nil {
				_ = f.Close()
				t.Fatal("Run accepted bad input")
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %q does not mention %q", err, tc.wantErr)
			}
		})
	}
}

func defaultDial() twinclient.DeviceOptions { return twinclient.DeviceOptions{} }
