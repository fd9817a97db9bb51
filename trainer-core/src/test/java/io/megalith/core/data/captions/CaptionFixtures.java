package io.megalith.core.data.captions;

import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.hadoop.conf.Configuration;

/** Configs and helpers of the captions tests. */
final class CaptionFixtures {
    private CaptionFixtures() {}

    static MegalithConfig config(String... overrides) {
        List<String> all = new ArrayList<>(List.of("model.family=clip", "data.task=captions", "run.dir=/tmp/unused-run"));
        all.addAll(Arrays.asList(overrides));
        return ConfigLoader.fromYaml("", all, "test");
    }

    /** The generated set of the built-in shapes with these overrides. */
    static GeneratedCaptions shapes(String... overrides) throws IOException {
        List<String> all = new ArrayList<>(List.of("data.builtin=shapes"));
        all.addAll(Arrays.asList(overrides));
        return (GeneratedCaptions) CaptionDatasets.open(config(all.toArray(String[]::new)), new Configuration(), null);
    }

    /** The raw bytes of a batch's canvases. */
    static byte[] raw(CaptionBatch b, CaptionData data) {
        return CaptionExport.bytes(b.images(), data.mean(), data.std());
    }

    /** Bytes [from, from + n) of a byte array as a map key. */
    static ByteBuffer key(byte[] bytes, int from, int n) {
        return ByteBuffer.wrap(Arrays.copyOfRange(bytes, from, from + n));
    }
}
