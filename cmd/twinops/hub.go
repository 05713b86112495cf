package main

import (
	"context"
	"errors"
)

func runHub(ctx context.Context, args []string) error { return errors.New("hub: not built yet") }
