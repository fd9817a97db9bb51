package io.megalith.core.family.clip;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.megalith.core.data.captions.CaptionData;
import java.io.IOException;
import java.util.List;

/**
 * What a trained clip run needs of its data besides the checkpoint (written once to run.dir as {@value #FILE}): the
 * canvas shape, the class names the zero-shot prompts spell and the pixel normalisation images are read in.
 */
public record ClipCanvas(int channels, int height, int width, List<String> classNames, double[] mean, double[] std) {
    public static final String FILE = "clip.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    public static ClipCanvas of(CaptionData data) {
        return new ClipCanvas(data.channels(), data.height(), data.width(), data.classNames(), data.mean(),
                data.std());
    }

    public byte[] toJson() throws IOException {
        return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(this);
    }

    public static ClipCanvas fromJson(byte[] json) throws IOException {
        return JSON.readValue(json, ClipCanvas.class);
    }
}
