package io.megalith.bench;

import io.megalith.core.inference.GenerateRequest;
import io.megalith.core.inference.RunCheckpoint;
import io.megalith.core.inference.TrainedDit;
import java.io.IOException;
import java.util.List;
import org.apache.hadoop.conf.Configuration;

/**
 * The system properties the diffusion judges ({@link DiffusionQuality}, {@link CompositionQuality}) read alike:
 * quality.threads (libtorch threads, default 2), quality.ditStep (the DiT checkpoint, default the latest) and
 * quality.sampler / steps / eta / guidance (default: the run's diffusion section).
 */
record SamplingOptions(int threads, Long ditStep, GenerateRequest request) {
    static SamplingOptions fromProperties() {
        String steps = System.getProperty("quality.steps");
        String eta = System.getProperty("quality.eta");
        String guidance = System.getProperty("quality.guidance");
        GenerateRequest request = new GenerateRequest(List.of(), 1, null, null, null, null, null,
                new GenerateRequest.Images(null, null, System.getProperty("quality.sampler"),
                        steps == null ? null : Integer.valueOf(steps), eta == null ? null : Double.valueOf(eta),
                        guidance == null ? null : Double.valueOf(guidance)));
        return new SamplingOptions(Integer.getInteger("quality.threads", 2), Long.getLong("quality.ditStep"), request);
    }

    TrainedDit loadDit(String runDir, Configuration hadoop) throws IOException {
        return TrainedDit.load(new RunCheckpoint(runDir, ditStep), hadoop, threads);
    }
}
