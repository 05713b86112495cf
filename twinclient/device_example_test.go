package twinclient_test

import (
	"context"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/twinops/twinops/twinclient"
)

// A device program: connect with its connection string and the hub's CA, apply desired
// properties as they come (the whole section first, then each change), and report back.
func ExampleDialDevice() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var (
		mu     sync.Mutex
		latest map[string]any
		wake   = make(chan struct{}, 1)
	)
	dev, err := twinclient.DialDevice(ctx, twinclient.DeviceOptions{
		ConnectionString: "HostName=localhost;DeviceId=pump-7;SharedAccessKey=...",
		CAFile:           "/home/me/.local/share/twinops/pki/ca.pem",
		OnDesired: func(u twinclient.DesiredUpdate) { // keep the latest, wake the loop
			mu.Lock()
			latest = u.Desired
			mu.Unlock()
			select {
			case wake <- struct{}{}:
			default:
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer dev.Close()
	<-wake
	mu.Lock()
	cfg, _ := latest["telemetryConfig"].(map[string]any)
	mu.Unlock()
	v, err := dev.PatchReported(ctx, map[string]any{"telemetryConfig": map[string]any{"sendFrequency": cfg["sendFrequency"], "status": "success"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("reported at $version", v)
}
