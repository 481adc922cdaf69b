"""Learning from the verifier: training sets of verified answers (`data`), fine-tuning (`sft`), expert
iteration (`iterate`). Nothing enters a training set that the real verifier has not accepted."""
