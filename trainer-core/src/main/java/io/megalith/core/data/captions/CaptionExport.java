package io.megalith.core.data.captions;

import io.megalith.core.data.images.ImageBatch;
import java.io.IOException;
import java.io.OutputStream;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Writes captioned images in the JSON Lines layout {@link CaptionDatasets} reads (data.format jsonl): PNG files
 * under {@code images/train/} and {@code images/test/}, {@code train.jsonl} and {@code test.jsonl} with each
 * canvas's caption and composition, and {@code classes.txt} (the class names by label, so compositions read back
 * with the same labels). Pixels are the bytes the batches were normalised from: round(255 (x std + mean)).
 */
public final class CaptionExport {
    private static final int CHUNK = 256;

    private CaptionExport() {}

    /**
     * Training rows [0, trainCount) of step 0 and held-out compositions [0, heldOutCount) of {@code data} into
     * {@code dir} (created; existing files of the same names are replaced).
     */
    public static void write(CaptionData data, Path dir, int trainCount, int heldOutCount) throws IOException {
        if (data.channels() != 1 && data.channels() != 3) {
            throw new IllegalArgumentException(data.channels() + " channels: PNG export writes gray or RGB images");
        }
        if (heldOutCount > data.heldOutSize()) {
            throw new IllegalArgumentException(heldOutCount + " held-out rows asked, " + data.heldOutSize() + " exist");
        }
        Files.createDirectories(dir);
        Files.write(dir.resolve(JsonlCaptions.CLASSES), data.classNames(), StandardCharsets.UTF_8);
        split(data, dir, "train", trainCount);
        split(data, dir, "test", heldOutCount);
    }

    private static void split(CaptionData data, Path dir, String name, int count) throws IOException {
        Path images = Files.createDirectories(dir.resolve("images").resolve(name));
        try (Writer jsonl = Files.newBufferedWriter(dir.resolve(name + ".jsonl"), StandardCharsets.UTF_8)) {
            for (int first = 0; first < count; first += CHUNK) {
                int n = Math.min(CHUNK, count - first);
                CaptionBatch b = "train".equals(name) ? data.train(0, first, n) : data.heldOut(first, n);
                byte[] raw = bytes(b.images(), data.mean(), data.std());
                int size = data.channels() * data.height() * data.width();
                for (int i = 0; i < n; i++) {
                    String file = String.format("%06d.png", first + i);
                    try (OutputStream out = Files.newOutputStream(images.resolve(file))) {
                        CaptionImages.writePng(raw, i * size, data.channels(), data.height(), data.width(), out);
                    }
                    jsonl.write(CaptionLine.write("images/" + name + "/" + file, b.captions().get(i),
                            b.compositions().get(i), data.classNames()));
                    jsonl.write('\n');
                }
            }
        }
    }

    /** The bytes normalised pixels came from: (x / 255 - mean) / std inverted and rounded (exact for bytes). */
    static byte[] bytes(ImageBatch b, double[] mean, double[] std) {
        float[] px = b.pixels();
        int plane = b.height() * b.width();
        byte[] out = new byte[px.length];
        for (int at = 0; at < px.length; at++) {
            int c = (at / plane) % b.channels();
            long v = Math.round((px[at] * std[c] + mean[c]) * 255);
            out[at] = (byte) Math.max(0, Math.min(255, v));
        }
        return out;
    }
}
