# mkt-x: one image, every role. SERVICES chooses what a container runs (see docker-compose.yml).
FROM node:24-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# The node devDependency is not needed here: the image already is Node 24.
RUN npm ci --omit=dev --no-audit --no-fund
COPY . .
USER node
EXPOSE 5000
CMD ["node", "bin/start.ts"]
