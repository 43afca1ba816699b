/*
Copyright 2026 The clb-binding-controller Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Package proc runs the child processes of the sandbox and the install test (control-plane
// components, the manager) with their output in a log file, and makes sure they die with the
// process that started them, even if it crashes.
package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// Options describe a child process.
type Options struct {
	// Name is used in errors.
	Name    string
	Bin     string
	Args    []string
	LogPath string
	// Env is the child's environment: added to this process's own when InheritEnv is set, else
	// the whole of it.
	Env        []string
	InheritEnv bool
	// Dir is the child's working directory (empty: this process's).
	Dir string
}

// Process is a running child.
type Process struct {
	opts Options
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start runs the child. It gets SIGKILL when this process dies (Pdeathsig) and has its own
// process group, so signals to the test do not reach it by accident.
func Start(opts Options) (*Process, error) {
	f, err := os.Create(opts.LogPath)
	if err != nil {
		return nil, fmt.Errorf("creating the log of %s: %w", opts.Name, err)
	}
	cmd := exec.Command(opts.Bin, opts.Args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = opts.Dir
	cmd.Env = opts.Env
	if opts.InheritEnv {
		cmd.Env = append(os.Environ(), opts.Env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	setDeathSignal(cmd.SysProcAttr)
	p := &Process{opts: opts, cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the *thread* that forked the child ends, and Go ends threads
		// (for example one whose locked goroutine exits). Keep this thread for the child's life.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	if err := <-started; err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("starting %s: %w", opts.Name, err)
	}
	return p, nil
}

// Name of the child, as given in Options.
func (p *Process) Name() string { return p.opts.Name }

// Pid of the child.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// LogPath is where its output goes.
func (p *Process) LogPath() string { return p.opts.LogPath }

// Exited reports whether the child ended, and how.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Kill sends SIGKILL and waits for the child to be gone.
func (p *Process) Kill() error {
	if done, _ := p.Exited(); done {
		return nil
	}
	if err := p.cmd.Process.Kill(); err != nil {
		return fmt.Errorf("killing %s: %w", p.opts.Name, err)
	}
	<-p.done
	return nil
}

// Stop sends SIGTERM, as the kubelet does, and SIGKILL after grace.
func (p *Process) Stop(grace time.Duration) error {
	if p == nil {
		return nil
	}
	if done, _ := p.Exited(); done {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return fmt.Errorf("%s did not stop within %v of SIGTERM and was killed", p.opts.Name, grace)
}

// Tail returns the last n lines of the child's log, indented for failure messages.
func (p *Process) Tail(n int) string {
	if p == nil {
		return ""
	}
	b, err := os.ReadFile(p.opts.LogPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	var sb strings.Builder
	for _, l := range lines {
		sb.WriteString("    ")
		sb.Write(l)
		sb.WriteByte('\n')
	}
	return sb.String()
}

// ErrExited describes a child that ended while it should run; nil while it runs.
func (p *Process) ErrExited() error {
	if done, err := p.Exited(); done {
		if err == nil {
			err = errors.New("exit status 0")
		}
		return fmt.Errorf("%s exited: %w; last lines of %s:\n%s", p.opts.Name, err, p.opts.LogPath, p.Tail(20))
	}
	return nil
}

// HTTPStatus is the status code of a GET of url (a probe endpoint), or an error.
func HTTPStatus(ctx context.Context, url string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}
