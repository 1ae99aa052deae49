# The gateway server for ECS Fargate: `gateway serve`'s AWS-mode twin, lambda/ecs-server.ts (the
# API with the DynamoDB table and the KMS/Secrets Manager CA key, src/server's HTTP server, the
# sweep loop). Stage 1 bundles it with esbuild (lib/bundles.ts); stage 2 is Node.js and that
# one file. `cdk synth` only copies this context; the image is built at deploy.
FROM public.ecr.aws/docker/library/node:22-slim AS build
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
COPY lambda ./lambda
COPY lib/bundles.ts lib/paths.ts ./lib/
RUN npx tsx lib/bundles.ts --server /out/server.js

FROM public.ecr.aws/docker/library/node:22-slim
ENV NODE_ENV=production NODE_OPTIONS=--enable-source-maps
WORKDIR /app
COPY --from=build /out/ ./
USER node
EXPOSE 8080
ENTRYPOINT ["node", "/app/server.js"]
