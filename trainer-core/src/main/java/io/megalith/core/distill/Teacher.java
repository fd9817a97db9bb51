package io.megalith.core.distill;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.config.InvalidInputException;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.tokenizer.Tokenizers;
import io.megalith.core.inference.RunCheckpoint;
import io.megalith.core.inference.TrainedGpt;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.SoftTargets;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Parameter;
import io.megalith.core.tensor.Ops;
import java.io.IOException;
import java.util.Arrays;
import org.apache.hadoop.conf.Configuration;

/**
 * A frozen GPT that teaches a student on the same batches (distill section): the whole one-rank model of a run
 * directory's checkpoint (written by any layout; its weights optionally from an exported or quantized file), held by
 * every rank that computes the student's loss. It gets no gradient, no optimizer state and no communication: its
 * forward runs with autograd off, before the student's pass, and only its softened outputs enter the student's loss.
 */
public final class Teacher implements AutoCloseable {
    private final Gpt model;
    private final TrainedGpt owner; // what frees the model's weights, or null when its caller owns them
    private final byte[] tokenizer;
    private final float temperature;
    private final float alpha;

    private Teacher(Gpt model, TrainedGpt owner, byte[] tokenizer, float temperature, float alpha) {
        this.model = model;
        this.owner = owner;
        this.tokenizer = tokenizer.clone();
        this.temperature = temperature;
        this.alpha = alpha;
    }

    /** A teacher already in memory: {@code model} with its weights loaded (its caller frees them), frozen here. */
    public static Teacher of(Gpt model, byte[] tokenizer, float temperature, float alpha) {
        freeze(model);
        return new Teacher(model, null, tokenizer, temperature, alpha);
    }

    private static void freeze(Gpt model) {
        for (Parameter p : model.parameters()) {
            p.freeze();
        }
    }

    /** The teacher {@code distill} names, or null when the run has none. */
    public static Teacher load(MegalithConfig.Distill distill, Configuration hadoop) throws IOException {
        if (!distill.active()) {
            return null;
        }
        TrainedGpt trained;
        try {
            trained = TrainedGpt.load(RunCheckpoint.latest(distill.teacher()), hadoop, 0);
        } catch (IOException e) {
            throw new InvalidInputException("distill.teacher: " + distill.teacher() + " is not a GPT run directory "
                    + "with a complete checkpoint (" + e.getMessage() + "); name the teacher's run.dir", e);
        }
        if (!distill.weights().isBlank()) {
            trained.useWeights(distill.weights());
        }
        freeze(trained.model());
        return new Teacher(trained.model(), trained, Tokenizers.toBytes(trained.tokenizer()),
                (float) distill.temperature(), (float) distill.alpha());
    }

    /** The teacher's tokenizer.json: the student reads the same token ids. */
    public byte[] tokenizer() {
        return tokenizer.clone();
    }

    /** Fails naming both when a student's tokenizer differs from the teacher's. */
    public void requireTokenizer(byte[] student, String studentSource) throws InvalidInputException {
        if (!Arrays.equals(student, tokenizer)) {
            throw new InvalidInputException("distill.teacher: the teacher's tokenizer differs from " + studentSource
                    + "'s: a teacher teaches the token ids it was trained on; use a teacher trained with the same "
                    + "tokenizer, or start a new run.dir (which takes the teacher's)");
        }
    }

    public Gpt model() {
        return model;
    }

    /**
     * Soft targets of token {@code ids} [B, T] (allocated on the student's manager): the teacher's logits for every
     * position, computed without autograd (the trainer runs forward passes with grad mode off outside segments).
     */
    public SoftTargets softTargets(PtNDArray ids, NDManager manager) {
        PtNDArray logits = model.logits(ids, ForwardContext.inference(manager));
        return SoftTargets.of(Ops.reshape(logits, -1, model.config().vocabSize()), temperature, alpha);
    }

    @Override
    public void close() {
        if (owner != null) {
            owner.close();
        }
    }
}
