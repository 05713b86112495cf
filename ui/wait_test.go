package ui

import "time"

func afterShort() <-chan time.Time { return time.After(50 * time.Millisecond) }
