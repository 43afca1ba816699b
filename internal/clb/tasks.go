package clb

import (
	"context"
	"errors"
	"fmt"

	clbapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb/v20180317"
	"k8s.io/apimachinery/pkg/util/wait"
)

// DescribeTaskStatus Status values.
const (
	taskSucceeded = 0
	taskFailed    = 1
	taskRunning   = 2
)

// WaitTask polls DescribeTaskStatus for taskID (the RequestId of an
// asynchronous write) every TaskPollInterval until the task ends, TaskTimeout
// passes or ctx is done. A failed task gives a TaskFailedError; a task still
// running at the timeout gives a ConflictError, since the load balancer stays
// busy and a later retry is the right reaction.
func (c *Client) WaitTask(ctx context.Context, taskID string) error {
	if taskID == "" {
		return errors.New("waiting for a task: empty task id")
	}
	err := wait.PollUntilContextTimeout(ctx, c.taskPoll, c.taskTimeout, true, func(ctx context.Context) (bool, error) {
		status, err := c.taskStatus(ctx, taskID)
		if err != nil {
			return false, err
		}
		switch status {
		case taskSucceeded:
			return true, nil
		case taskFailed:
			return false, &TaskFailedError{TaskID: taskID, Message: "the cloud reported the task as failed"}
		case taskRunning:
			return false, nil
		default:
			return false, fmt.Errorf("unexpected status %d", status)
		}
	})
	if failed, ok := errors.AsType[*TaskFailedError](err); ok {
		return failed
	}
	switch {
	case err == nil:
		return nil
	case ctx.Err() == nil && wait.Interrupted(err):
		return &ConflictError{Message: fmt.Sprintf("task %s still running after %s", taskID, c.taskTimeout), Err: err}
	default:
		return fmt.Errorf("waiting for task %s: %w", taskID, err)
	}
}

func (c *Client) taskStatus(ctx context.Context, taskID string) (int64, error) {
	req := clbapi.NewDescribeTaskStatusRequest()
	req.TaskId = new(taskID)
	var resp *clbapi.DescribeTaskStatusResponse
	err := c.do(ctx, actionDescribeTaskStatus, func(ctx context.Context) (err error) {
		resp, err = c.api.DescribeTaskStatusWithContext(ctx, req)
		return err
	})
	if err != nil {
		return 0, err
	}
	if resp.Response == nil || resp.Response.Status == nil {
		return 0, errors.New("DescribeTaskStatus returned no status")
	}
	return *resp.Response.Status, nil
}

// waitResponseTask waits for the task of a write whose RequestId is id.
func (c *Client) waitResponseTask(ctx context.Context, id *string) error {
	if id == nil {
		return errors.New("the cloud returned no request id to wait for")
	}
	return c.WaitTask(ctx, *id)
}
