"""Multi-modal prediction: a record, a radiograph and a note fused in one answer."""
